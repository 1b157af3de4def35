package httpx

import "net/http"

// StatusWriter remembers the status a handler answered with (the final
// one: an informational 1xx before it, such as 101 before a WebSocket
// takes the connection over, is kept only until another comes).
type StatusWriter struct {
	http.ResponseWriter
	Status int // 0 until the handler writes
}

func (s *StatusWriter) WriteHeader(code int) {
	if s.Status == 0 || s.Status < 200 {
		s.Status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *StatusWriter) Write(b []byte) (int, error) {
	if s.Status == 0 {
		s.Status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController and WebSocket upgrades reach the
// connection.
func (s *StatusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
