package api

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/onair-video/onair/internal/ivs"
)

// decodeBody decodes a JSON request body into in. It is given untrusted
// input: every failure is a ValidationException whose message names the
// member at fault where there is one. Unknown members are ignored, as on
// AWS, so newer clients keep working.
func decodeBody(body []byte, in any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		// The SDKs send {} for an empty input; curl users may send nothing.
		return nil
	}
	err := json.Unmarshal(body, in)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return ivs.Validation("", "the request body must be a JSON object")
		}
		return ivs.Validation(te.Field, "%s: expected %s, got JSON %s", te.Field, wireType(te.Type.Kind().String()), te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return ivs.Validation("", "the request body is not valid JSON: %v (at byte %d)", se, se.Offset)
	}
	return ivs.Validation("", "the request body is not valid JSON: %v", err)
}

// wireType names a Go kind as a JSON type.
func wireType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int32", "int64", "uint", "uint32", "uint64", "float32", "float64":
		return "a number"
	case "slice", "array":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	}
	return kind
}
