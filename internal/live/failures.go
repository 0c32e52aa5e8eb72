package live

import "time"

// Unknown stream keys allowed per source address: a burst of 10, then one
// every 6 s. An encoder with a typo retries far slower than that; a key
// scanner (hopeless against 256-bit keys, but costly in store lookups and
// logs) is refused without a lookup.
const (
	keyFailureBurst = 10
	keyFailureEvery = 6 * time.Second
)
