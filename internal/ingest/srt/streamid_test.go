package srt

import (
	"errors"
	"testing"
)

func TestParseStreamID(t *testing.T) {
	t.Parallel()
	const key = "sk_us-east-1_abc_def"
	tests := []struct {
		in      string
		want    string
		wantErr error
	}{
		{key, key, nil},
		{"#!::r=" + key + ",m=publish", key, nil},
		{"#!::u=obs,r=" + key, key, nil},
		{"#!::m=publish,r=" + key + ",t=stream", key, nil},
		{"", "", errNoStreamID},
		{"#!::m=publish", "", errBadStreamID},
		{"#!::r", "", errBadStreamID},
		{"#!::r=" + key + ",m=request", "", errNotPublish},
		{"sk key", "", errBadKeyFormat},
		{"sk\u00e9", "", errBadKeyFormat},
		{string(make([]byte, 300)), "", errBadKeyFormat},
	}
	for _, tc := range tests {
		got, err := parseStreamID(tc.in)
		if got != tc.want || !errors.Is(err, tc.wantErr) {
			t.Errorf("parseStreamID(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

// FuzzParseStreamID: whatever a caller puts in its streamid, the answer is
// a printable key or an error, never a panic.
func FuzzParseStreamID(f *testing.F) {
	for _, s := range []string{"sk_us-east-1_abc", "#!::r=k,m=publish", "#!::", "#!::=,=", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		key, err := parseStreamID(s)
		if err != nil {
			return
		}
		if key == "" || len(key) > maxStreamKeyLen {
			t.Fatalf("key %q from %q", key, s)
		}
		for i := 0; i < len(key); i++ {
			if key[i] <= ' ' || key[i] >= 0x7f {
				t.Fatalf("unprintable key %q from %q", key, s)
			}
		}
	})
}
