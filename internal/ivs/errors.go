package ivs

import (
	"errors"
	"fmt"
	"syscall"
)

// Code names an IVS error the way the SDK decodes it (the x-amzn-ErrorType).
type Code string

// The IVS error codes. Note the names without an "Exception" suffix: they are
// IVS's own.
const (
	CodeAccessDenied           Code = "AccessDeniedException"
	CodeChannelNotBroadcasting Code = "ChannelNotBroadcasting"
	CodeConflict               Code = "ConflictException"
	CodeInternal               Code = "InternalServerException"
	CodePendingVerification    Code = "PendingVerification"
	CodeResourceNotFound       Code = "ResourceNotFoundException"
	CodeServiceQuotaExceeded   Code = "ServiceQuotaExceededException"
	CodeServiceUnavailable     Code = "ServiceUnavailable"
	CodeStreamUnavailable      Code = "StreamUnavailable"
	CodeThrottling             Code = "ThrottlingException"
	CodeValidation             Code = "ValidationException"
)

// Error is an error an IVS client is meant to see. The api package maps Code
// to the HTTP status and error shape.
type Error struct {
	Code    Code
	Message string
	// Field names the offending input member of a ValidationException.
	Field string
	// ResourceID, ResourceType and Limit go on the wire in IVS Chat's
	// errors (ResourceNotFound, Conflict, ServiceQuotaExceeded, Throttling).
	ResourceID   string
	ResourceType string
	Limit        int
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// ErrNotFound is returned (wrapped) by a Store when a record does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned (wrapped) by a Store when a unique constraint fails.
var ErrConflict = errors.New("conflict")

// Validation is the error for input that breaks a rule; field names the member.
func Validation(field, format string, args ...any) *Error {
	return &Error{Code: CodeValidation, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFound is the ResourceNotFound error of the resource of kind named by arn.
func NotFound(kind, arn string) *Error {
	return &Error{Code: CodeResourceNotFound, Message: fmt.Sprintf("%s %s not found", kind, arn)}
}

func conflictf(format string, args ...any) *Error {
	return &Error{Code: CodeConflict, Message: fmt.Sprintf(format, args...)}
}

// NotBroadcasting is the error for stream operations on an offline channel.
func NotBroadcasting(channelARN string) *Error {
	return &Error{Code: CodeChannelNotBroadcasting, Message: fmt.Sprintf("channel %s is not broadcasting", channelARN)}
}

// AccessDenied is the error for a request whose credentials are not accepted.
func AccessDenied(msg string) *Error {
	return &Error{Code: CodeAccessDenied, Message: msg}
}

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// sqliteFull is SQLite's primary result code SQLITE_FULL: the database
// could not grow because the disk is full.
const sqliteFull = 13

// StorageFull reports whether err says the server's disk is full: ENOSPC
// from a file, or SQLITE_FULL from the store (whose driver errors carry
// SQLite's result code).
func StorageFull(err error) bool {
	if errors.Is(err, syscall.ENOSPC) {
		return true
	}
	var coded interface{ Code() int }
	return errors.As(err, &coded) && coded.Code()&0xff == sqliteFull
}
