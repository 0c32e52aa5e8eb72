package postgres

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// storable says whether s can be a TEXT value. PostgreSQL refuses NUL and
// invalid UTF-8 in text (SQLSTATE 22021) where SQLite keeps any bytes; so
// no stored id, key value or name equals a string that is not storable,
// and a look-up of one (a stream key from an RTMP publish, a channel id
// from a playback URL) finds nothing, as on SQLite, instead of failing.
func storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// afterCond is the condition "col sorts after afterID", with afterID as
// parameter $n. A page token decodes to any bytes: one that is not
// storable is compared as bytes, which orders as the "C" collation does.
func afterCond(col, afterID string, n int) (string, any) {
	if storable(afterID) {
		return fmt.Sprintf("%s > $%d", col, n), afterID
	}
	return fmt.Sprintf("convert_to(%s, 'UTF8') > $%d", col, n), []byte(afterID)
}

// unstored is the error of a look-up or write by keys of which one is not
// storable: no row has it, so nothing is sent. The error names what was
// being done and the keys, quoted (such a key may hold any bytes); it is
// nil when every key is storable.
func unstored(what string, keys ...string) error {
	if !slices.ContainsFunc(keys, func(k string) bool { return !storable(k) }) {
		return nil
	}
	for _, k := range keys {
		what += " " + strconv.Quote(k)
	}
	return notFound(pgx.ErrNoRows, what)
}
