package domain

import "time"

// Link is a meeting link: a lasting, revocable address of a room that
// mints a fresh client token each time it is opened, until it expires.
// Only a hash of its secret is stored.
type Link struct {
	ID         string
	RoomID     string
	Name       string // who it is for: the context of whoever joins with it
	SecretHash []byte
	CreatedAt  time.Time
	ExpiresAt  time.Time
	RevokedAt  *time.Time
	// TokenTTL is the lifetime of the client tokens it mints.
	TokenTTL time.Duration
}

// Origin is where a participant's client token came from: its token
// family (a refresh token and the access tokens issued with it or from
// it) and its meeting link ("" for none).
type Origin struct {
	Family string
	Link   string
}

// Subjects are what a ban on this origin names: the family and the link.
func (o Origin) Subjects() []string {
	var s []string
	if o.Family != "" {
		s = append(s, "family:"+o.Family)
	}
	if o.Link != "" {
		s = append(s, "link:"+o.Link)
	}
	return s
}
