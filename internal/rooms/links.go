package rooms

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
)

// Meeting link lifetimes and limits.
const (
	DefaultLinkTTL = 7 * 24 * time.Hour
	MinLinkTTL     = time.Minute
	MaxLinkTTL     = 90 * 24 * time.Hour
	MaxLinkName    = 255
)

// ErrLinkExpired and ErrLinkRevoked refuse a meeting link that was valid
// once.
var (
	ErrLinkExpired = errors.New("the meeting link has expired")
	ErrLinkRevoked = errors.New("the meeting link was revoked")
)

// CreateLink makes a meeting link for an existing room: name is who it is
// for (the context of whoever joins with it, "" for anyone), valid for
// ttl (zero: DefaultLinkTTL), minting client tokens that last tokenTTL
// seconds (nil: DefaultTokenTTL). It returns the link and its token, the
// secret part of its URL, which is shown this once: only its hash is
// kept.
func (s *Service) CreateLink(ctx context.Context, roomID, name string, ttl time.Duration, tokenTTL *int) (domain.Link, string, error) {
	if ttl == 0 {
		ttl = DefaultLinkTTL
	}
	access, err := ttlOf("token_ttl_secs", tokenTTL, DefaultTokenTTL, MinTokenTTL, MaxTokenTTL)
	if err != nil {
		return domain.Link{}, "", err
	}
	if ttl < MinLinkTTL || ttl > MaxLinkTTL {
		return domain.Link{}, "", domain.Invalid("ttl_secs", "must be from %d to %d seconds (a minute to 90 days), got %d",
			int(MinLinkTTL/time.Second), int(MaxLinkTTL/time.Second), int(ttl/time.Second))
	}
	if utf8.RuneCountInString(name) > MaxLinkName {
		return domain.Link{}, "", domain.Invalid("name", "must be at most %d characters", MaxLinkName)
	}
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return domain.Link{}, "", err
	}
	sum := sha256.Sum256(secret)
	now := s.clock()
	l := domain.Link{ID: s.newID(), RoomID: roomID, Name: name, SecretHash: sum[:], CreatedAt: now, ExpiresAt: now.Add(ttl), TokenTTL: access}
	err = s.store.InTx(ctx, func(q store.Queries) error {
		if _, err := q.LockRoom(ctx, roomID); err != nil {
			return err
		}
		return q.InsertLink(ctx, l)
	})
	if err != nil {
		return domain.Link{}, "", err
	}
	return l, l.ID + "." + base64.RawURLEncoding.EncodeToString(secret), nil
}

// ListLinks returns a room's meeting links, newest first.
func (s *Service) ListLinks(ctx context.Context, roomID string) ([]domain.Link, error) {
	if _, err := s.store.GetRoom(ctx, roomID); err != nil {
		return nil, err
	}
	return s.store.ListLinks(ctx, roomID)
}

// RevokeLink ends a meeting link at once; revoking it again changes
// nothing.
func (s *Service) RevokeLink(ctx context.Context, id string) (domain.Link, error) {
	var l domain.Link
	err := s.store.InTx(ctx, func(q store.Queries) error {
		if err := q.RevokeLink(ctx, id, s.clock()); err != nil {
			return err
		}
		var err error
		l, err = q.GetLink(ctx, id)
		return err
	})
	return l, err
}

// OpenedLink is what opening a meeting link gives: fresh client tokens of
// the link's room, and the name it is for.
type OpenedLink struct {
	Link   domain.Link
	Tokens Tokens
}

// OpenLink checks a meeting link's token and mints a fresh access token
// and refresh token for its room, of a new token family and of the link
// (a kick keeps both out). A token that names no link, or the wrong
// secret, is domain.ErrNotFound; an expired or revoked link is
// ErrLinkExpired or ErrLinkRevoked; a deleted room, domain.ErrNotFound.
func (s *Service) OpenLink(ctx context.Context, raw string) (_ OpenedLink, err error) {
	if err := s.requireSigner(); err != nil {
		return OpenedLink{}, err
	}
	defer func() { counted(err, &s.tokens.link, &s.tokens.refusedLinks) }()
	id, enc, ok := strings.Cut(raw, ".")
	secret, err := base64.RawURLEncoding.DecodeString(enc)
	if !ok || err != nil || len(secret) == 0 {
		return OpenedLink{}, domain.ErrNotFound
	}
	l, err := s.store.GetLink(ctx, id)
	if err != nil {
		return OpenedLink{}, err
	}
	sum := sha256.Sum256(secret)
	switch now := s.clock(); {
	case subtle.ConstantTimeCompare(sum[:], l.SecretHash) != 1:
		return OpenedLink{}, domain.ErrNotFound
	case l.RevokedAt != nil:
		return OpenedLink{Link: l}, ErrLinkRevoked
	case !now.Before(l.ExpiresAt):
		return OpenedLink{Link: l}, ErrLinkExpired
	}
	if _, err := s.store.GetRoom(ctx, l.RoomID); err != nil {
		return OpenedLink{}, err
	}
	t, err := s.issuePair(l.RoomID, l.TokenTTL, DefaultRefreshTTL*time.Second, l.ID)
	if err != nil {
		return OpenedLink{}, err
	}
	return OpenedLink{Link: l, Tokens: t}, nil
}
