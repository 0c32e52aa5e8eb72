package api

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/onair-video/onair/internal/ivs"
)

// statusOf is the HTTP status IVS's model gives each error code. The SDK
// picks the error type from x-amzn-ErrorType, never from the status, but
// retries 5xx and 429, so a status must say what the code says.
var statusOf = map[ivs.Code]int{
	ivs.CodeAccessDenied:           http.StatusForbidden,
	ivs.CodeChannelNotBroadcasting: http.StatusNotFound,
	ivs.CodeConflict:               http.StatusConflict,
	ivs.CodeInternal:               http.StatusInternalServerError,
	ivs.CodePendingVerification:    http.StatusForbidden,
	ivs.CodeResourceNotFound:       http.StatusNotFound,
	ivs.CodeServiceQuotaExceeded:   http.StatusPaymentRequired,
	ivs.CodeServiceUnavailable:     http.StatusServiceUnavailable,
	ivs.CodeStreamUnavailable:      http.StatusServiceUnavailable,
	ivs.CodeThrottling:             http.StatusTooManyRequests,
	ivs.CodeValidation:             http.StatusBadRequest,
}

// codeUnknownOperation is what AWS answers for a path that names no operation.
const codeUnknownOperation = "UnknownOperationException"

// wireError is an error as it goes on the wire.
type wireError struct {
	status  int
	code    string
	message string
	// chat, for IVS Chat operations, is the body's members beyond message.
	chat map[string]any
}

// toWire decides, once, what a client sees for err. Anything that is not an
// IVS or authentication error is our fault: a 500 whose message reveals
// nothing; the caller logs the cause.
func toWire(err error) (we wireError, internal bool) {
	if e, ok := ivs.AsError(err); ok {
		st, known := statusOf[e.Code]
		if !known {
			st = http.StatusBadRequest
		}
		return wireError{st, string(e.Code), e.Message, nil}, false
	}
	if ae, ok := asAuthError(err); ok {
		return wireError{http.StatusForbidden, ae.code, ae.msg, nil}, false
	}
	var ue unknownOpError
	if errors.As(err, &ue) {
		return wireError{http.StatusNotFound, codeUnknownOperation, ue.Error(), nil}, false
	}
	if ivs.StorageFull(err) {
		return wireError{http.StatusInternalServerError, string(ivs.CodeInternal),
			"the server's storage is full: changes are refused until space is freed", nil}, true
	}
	return wireError{http.StatusInternalServerError, string(ivs.CodeInternal), "internal error; see the server log for request id", nil}, true
}

type unknownOpError struct{ name string }

func (e unknownOpError) Error() string {
	return fmt.Sprintf("unknown operation %q", truncate(e.name, 64))
}

// writeError writes err in the shape the SDKs decode: the code in
// x-amzn-ErrorType, the message in the body as both exceptionMessage (what
// the Go SDK's typed IVS errors read) and message (what botocore reads).
func writeError(w http.ResponseWriter, we wireError) {
	var body []byte
	if we.chat != nil {
		we.chat["message"] = we.message
		body, _ = json.Marshal(we.chat)
	} else {
		body, _ = json.Marshal(map[string]string{"exceptionMessage": we.message, "message": we.message})
	}
	h := w.Header()
	h.Set("x-amzn-ErrorType", we.code)
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(we.status)
	_, _ = w.Write(body)
}

// newRequestID returns a UUID-shaped id for x-amzn-RequestId and the logs.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// chatFields are the members IVS Chat's error bodies carry beside message:
// resourceId, resourceType and limit; for a ValidationException its reason
// and fieldList.
func chatFields(err error, we wireError) map[string]any {
	m := map[string]any{}
	e, ok := ivs.AsError(err)
	switch {
	case we.code == codeUnknownOperation:
		m["reason"] = "UNKNOWN_OPERATION"
	case !ok:
	case e.Code == ivs.CodeValidation:
		m["reason"] = "OTHER"
		if e.Field != "" {
			m["reason"] = "FIELD_VALIDATION_FAILED"
			m["fieldList"] = []map[string]string{{"name": e.Field, "message": e.Message}}
		}
	default:
		if e.ResourceID != "" {
			m["resourceId"] = e.ResourceID
		}
		if e.ResourceType != "" {
			m["resourceType"] = e.ResourceType
		}
		if e.Limit > 0 {
			m["limit"] = e.Limit
		}
	}
	return m
}
