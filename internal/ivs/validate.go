package ivs

import (
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

var (
	nameRe     = regexp.MustCompile(`^[a-zA-Z0-9-_]*$`)
	tagRe      = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
	nextRe     = regexp.MustCompile(`^[a-zA-Z0-9+/=_-]*$`)
	streamIDRe = regexp.MustCompile(`^st-[a-zA-Z0-9]{1,64}$`)
	maxTags    = 50
	maxNextLen = 1024
)

// ValidateName checks a resource name: up to 128 of [a-zA-Z0-9-_].
func ValidateName(field, name string) error {
	if len(name) > 128 {
		return Validation(field, "%s must be at most 128 characters", field)
	}
	if !nameRe.MatchString(name) {
		return Validation(field, "%s must match [a-zA-Z0-9-_]*", field)
	}
	return nil
}

// ValidateEnum checks that v is one of allowed; field names the member.
func ValidateEnum(field, v string, allowed ...string) error {
	if !slices.Contains(allowed, v) {
		return Validation(field, "%s must be one of %s, got %q", field, strings.Join(allowed, ", "), v)
	}
	return nil
}

// ValidateTags checks a tag map as IVS does: at most 50 tags, keys of 1-128
// and values of 0-256 characters from the allowed set, no "aws:" prefix.
func ValidateTags(field string, tags map[string]string) error {
	if len(tags) > maxTags {
		return Validation(field, "%s may hold at most %d tags", field, maxTags)
	}
	for k, v := range tags {
		if n := utf8.RuneCountInString(k); n < 1 || n > 128 {
			return Validation(field, "%s keys must be 1 to 128 characters", field)
		}
		if utf8.RuneCountInString(v) > 256 {
			return Validation(field, "%s value for key %q must be at most 256 characters", field, k)
		}
		if !tagRe.MatchString(k) || !tagRe.MatchString(v) {
			return Validation(field, "%s key %q or its value has characters outside [\\p{L}\\p{Z}\\p{N}_.:/=+-@]", field, k)
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return Validation(field, "%s key %q uses the reserved prefix aws:", field, k)
		}
	}
	return nil
}

func validateTagKeys(field string, keys []string) error {
	if len(keys) == 0 {
		return Validation(field, "%s must name at least one key", field)
	}
	if len(keys) > maxTags {
		return Validation(field, "%s may name at most %d keys", field, maxTags)
	}
	for _, k := range keys {
		if n := utf8.RuneCountInString(k); n < 1 || n > 128 {
			return Validation(field, "%s keys must be 1 to 128 characters", field)
		}
	}
	return nil
}

// ValidatePage checks nextToken and maxResults; def is the default page size.
func ValidatePage(nextToken string, maxResults *int32, lo, hi, def int) (int, error) {
	if len(nextToken) > maxNextLen || !nextRe.MatchString(nextToken) {
		return 0, Validation("nextToken", "nextToken is not valid")
	}
	if maxResults == nil {
		return def, nil
	}
	if int(*maxResults) < lo || int(*maxResults) > hi {
		return 0, Validation("maxResults", "maxResults must be between %d and %d", lo, hi)
	}
	return int(*maxResults), nil
}

// CloneTags returns a copy of t, never nil.
func CloneTags(t map[string]string) map[string]string {
	out := make(map[string]string, len(t))
	for k, v := range t {
		out[k] = v
	}
	return out
}
