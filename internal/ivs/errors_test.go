package ivs

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"
)

type codedErr int

func (c codedErr) Error() string { return fmt.Sprintf("sqlite %d", int(c)) }
func (c codedErr) Code() int     { return int(c) }

func TestStorageFull(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"ENOSPC from a file", fmt.Errorf("spool: %w", &fs.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}), true},
		{"SQLITE_FULL", fmt.Errorf("sqlite: create channel: %w", codedErr(13)), true},
		{"SQLITE_FULL extended", codedErr(13 | 3<<8), true},
		{"SQLITE_BUSY", codedErr(5), false},
		{"other", errors.New("boom"), false},
		{"nil", nil, false},
	} {
		if got := StorageFull(tc.err); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
