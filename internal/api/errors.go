package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/httpx"
	"github.com/roomsd/roomsd/internal/rooms"
)

// Telnyx error codes used by roomsd. They are strings on the wire.
const (
	codeInvalidURL       = "10003"
	codeMissingParameter = "10004"
	codeNotFound         = "10005"
	codeInvalidID        = "10006"
	codeUnexpected       = "10007"
	codeAuthFailed       = "10009"
	codeForbidden        = "10010"
	codeDuplicate        = "10012"
	codeMediaType        = "10014"
	codeBadRequest       = "10015"
	codeInvalidJSON      = "10023"
)

// The envelope types are shared with the guard in httpx, which writes the
// same shape for answers no handler of ours made.
type (
	apiError    = httpx.Error
	errorSource = httpx.Source
	errorsBody  = httpx.Envelope
)

func newError(status int, code, title, detail string) *apiError {
	return &apiError{Status: status, Code: code, Title: title, Detail: detail}
}

// paramError is a 422 naming a query parameter.
func paramError(param, detail string) *apiError {
	e := newError(http.StatusUnprocessableEntity, codeBadRequest, "Invalid parameter", detail)
	e.Source = &errorSource{Parameter: param}
	return e
}

// fieldError is a 422 naming a body field by JSON pointer.
func fieldError(code, title, field, detail string) *apiError {
	e := newError(http.StatusUnprocessableEntity, code, title, detail)
	e.Source = &errorSource{Pointer: "/" + field}
	return e
}

func notFound(detail string) *apiError {
	return newError(http.StatusNotFound, codeNotFound, "Resource not found", detail)
}

// toAPIError maps any error from the layers below onto the envelope. An
// error it does not know is a 500 whose detail carries only the request id.
func toAPIError(err error, notFoundDetail string) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		switch ve.Kind {
		case domain.KindInvalidURL:
			return fieldError(codeInvalidURL, "Invalid URL", ve.Field, ve.Detail)
		case domain.KindDuplicate:
			return fieldError(codeDuplicate, "Duplicate resource", ve.Field, ve.Detail)
		case domain.KindRequired:
			return fieldError(codeMissingParameter, "Missing required parameter", ve.Field, ve.Detail)
		default:
			return fieldError(codeBadRequest, "Invalid value", ve.Field, ve.Detail)
		}
	}
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return notFound(notFoundDetail)
	case errors.Is(err, domain.ErrForbidden):
		return newError(http.StatusForbidden, codeForbidden, "Authorization failed",
			"The token does not allow this: "+err.Error()+".") // the error's text is the reason alone
	case errors.Is(err, domain.ErrSessionEnded):
		return newError(http.StatusUnprocessableEntity, codeBadRequest, "Session not active",
			"The room session has already ended.")
	case errors.Is(err, domain.ErrRoomFull):
		return newError(http.StatusUnprocessableEntity, codeBadRequest, "Room full",
			"The room has reached its max_participants.")
	case errors.Is(err, rooms.ErrUnfilteredDelete):
		return paramError("filter", "Name at least one filter[...] parameter; a bulk delete without one would remove every recording.")
	}
	return nil
}

// fail writes err as a Telnyx error envelope.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error, notFoundDetail string) {
	ae := toAPIError(err, notFoundDetail)
	if ae == nil {
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			// The client went away; there is nobody to answer.
			a.log.DebugContext(r.Context(), "request canceled", "request_id", requestID(r.Context()))
			return
		}
		a.log.ErrorContext(r.Context(), "request failed", "request_id", requestID(r.Context()),
			"method", r.Method, "path", r.URL.Path, slog.Any("err", err))
		ae = newError(http.StatusInternalServerError, codeUnexpected, "Unexpected error",
			"The server could not complete the request; quote request id "+requestID(r.Context())+" when reporting it.")
	}
	writeJSON(w, ae.Status, errorsBody{Errors: []*apiError{ae}})
}
