package rooms

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/token"
)

// Client token lifetimes, in seconds.
const (
	DefaultTokenTTL   = 600
	MinTokenTTL       = 10
	MaxTokenTTL       = 3600
	DefaultRefreshTTL = 3600
	MinRefreshTTL     = 60
	MaxRefreshTTL     = 86400
)

// WithSigner gives the service the key that signs client tokens.
func WithSigner(sg *token.Signer) Option { return func(s *Service) { s.signer = sg } }

// Tokens are a fresh access token and the refresh token that renews it.
type Tokens struct {
	Token            string
	TokenExpiresAt   time.Time
	Refresh          string
	RefreshExpiresAt time.Time
}

func ttlOf(field string, v *int, def, lo, hi int) (time.Duration, error) {
	n := def
	if v != nil {
		n = *v
	}
	if n < lo || n > hi {
		return 0, domain.Invalid(field, "must be from %d to %d seconds, got %d", lo, hi, n)
	}
	return time.Duration(n) * time.Second, nil
}

func (s *Service) requireSigner() error {
	if s.signer == nil {
		return errors.New("rooms: no token signer configured")
	}
	return nil
}

// IssueTokens mints a join token and a refresh token for an existing room.
// Nil lifetimes take their defaults.
func (s *Service) IssueTokens(ctx context.Context, roomID string, tokenTTL, refreshTTL *int) (Tokens, error) {
	if err := s.requireSigner(); err != nil {
		return Tokens{}, err
	}
	access, err := ttlOf("token_ttl_secs", tokenTTL, DefaultTokenTTL, MinTokenTTL, MaxTokenTTL)
	if err != nil {
		return Tokens{}, err
	}
	refresh, err := ttlOf("refresh_token_ttl_secs", refreshTTL, DefaultRefreshTTL, MinRefreshTTL, MaxRefreshTTL)
	if err != nil {
		return Tokens{}, err
	}
	if _, err := s.store.GetRoom(ctx, roomID); err != nil {
		return Tokens{}, err
	}
	t, err := s.issuePair(roomID, access, refresh, "")
	counted(err, &s.tokens.issued, nil)
	return t, err
}

// issuePair mints an access token and its refresh token, of one new
// token family (and of a meeting link, if link is not "").
func (s *Service) issuePair(roomID string, access, refresh time.Duration, link string) (Tokens, error) {
	o := token.Origin{Family: uuid.NewString(), Link: link}
	var (
		t   Tokens
		err error
	)
	if t.Token, t.TokenExpiresAt, err = s.signer.IssueFrom(roomID, token.TypeAccess, access, o); err != nil {
		return Tokens{}, err
	}
	if t.Refresh, t.RefreshExpiresAt, err = s.signer.IssueFrom(roomID, token.TypeRefresh, refresh, o); err != nil {
		return Tokens{}, err
	}
	return t, nil
}

// RefreshToken exchanges a valid refresh token of roomID for a new join
// token. Any problem with the token, or a room that no longer exists, is
// domain.ErrForbidden: the caller holds no API key, so it learns no more.
func (s *Service) RefreshToken(ctx context.Context, roomID, refreshToken string, tokenTTL *int) (string, time.Time, error) {
	if err := s.requireSigner(); err != nil {
		return "", time.Time{}, err
	}
	access, err := ttlOf("token_ttl_secs", tokenTTL, DefaultTokenTTL, MinTokenTTL, MaxTokenTTL)
	if err != nil {
		return "", time.Time{}, err
	}
	c, err := s.verify(ctx, roomID, refreshToken, token.TypeRefresh)
	if err != nil {
		counted(err, nil, &s.tokens.refusedRefresh)
		return "", time.Time{}, err
	}
	// Of the refresh token's family and link: a kick that keeps them out
	// keeps this token out too.
	raw, exp, err := s.signer.IssueFrom(roomID, token.TypeAccess, access, c.Origin)
	counted(err, &s.tokens.refreshed, nil)
	return raw, exp, err
}

// VerifyJoinToken checks an access token for joining roomID: signature,
// time window, type, room grant, and that the room still exists.
func (s *Service) VerifyJoinToken(ctx context.Context, roomID, raw string) (token.Claims, error) {
	if err := s.requireSigner(); err != nil {
		return token.Claims{}, err
	}
	c, err := s.verify(ctx, roomID, raw, token.TypeAccess)
	if err != nil {
		counted(err, nil, &s.tokens.refusedJoin)
	}
	return c, err
}

func (s *Service) verify(ctx context.Context, roomID, raw, typ string) (token.Claims, error) {
	c, err := s.signer.Verify(raw, typ)
	if err != nil {
		return c, &forbiddenError{reason: err.Error(), cause: err}
	}
	if c.RoomID() != roomID {
		return c, &forbiddenError{reason: "the token is for another room"}
	}
	if _, err := s.store.GetRoom(ctx, roomID); errors.Is(err, domain.ErrNotFound) {
		return c, &forbiddenError{reason: "the room no longer exists"}
	} else if err != nil {
		return c, err
	}
	return c, nil
}

// forbiddenError is a client token that does not allow what it was
// presented for. It matches domain.ErrForbidden, and its text is the
// reason alone in plain words, such as "the token has expired", so a
// transport can put it after words of its own.
type forbiddenError struct {
	reason string
	cause  error
}

func (e *forbiddenError) Error() string { return e.reason }

func (e *forbiddenError) Unwrap() []error {
	if e.cause == nil {
		return []error{domain.ErrForbidden}
	}
	return []error{domain.ErrForbidden, e.cause}
}

// JWKS is the public key set that verifies client tokens.
func (s *Service) JWKS() []byte {
	if s.signer == nil {
		return []byte(`{"keys":[]}`)
	}
	return s.signer.JWKS()
}
