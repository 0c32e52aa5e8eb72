package ivs

import (
	"crypto/rand"
	"fmt"
	"regexp"
	"strings"
)

const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomString returns n characters drawn uniformly from alphabet, using
// crypto/rand: stream keys and ids must not be guessable.
func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	// Rejection sampling keeps the distribution uniform.
	limit := 256 - 256%len(alphabet)
	buf := make([]byte, n*2)
	i := 0
	for i < n {
		if _, err := rand.Read(buf); err != nil {
			panic(fmt.Sprintf("ivs: crypto/rand failed: %v", err))
		}
		for _, c := range buf {
			if int(c) >= limit {
				continue
			}
			b[i] = alphabet[int(c)%len(alphabet)]
			i++
			if i == n {
				break
			}
		}
	}
	return string(b)
}

// NewResourceID returns a 12-character resource id, as IVS uses.
func NewResourceID() string { return randomString(12, alnum) }

// NewStageSessionID returns a stage session id: "st-" and 13 alphanumerics,
// 16 characters as IVS Real-Time's StageSessionId.
func NewStageSessionID() string { return "st-" + randomString(13, alnum) }

// NewStreamID returns a stream id: "st-" and 23 alphanumerics.
func NewStreamID() string { return "st-" + randomString(23, alnum) }

// NewStreamKeyValue returns a stream key: sk_{region}_{12}_{31}. IVS's
// keys have 30 characters in the last group (250 bits in all); one more
// makes 43 alphanumerics, 256 bits, and no client parses the groups.
func NewStreamKeyValue(region string) string {
	return "sk_" + region + "_" + randomString(12, alnum) + "_" + randomString(31, alnum)
}

// NewSRTPassphrase returns an SRT passphrase (SRT accepts 10 to 79 characters).
func NewSRTPassphrase() string { return randomString(64, alnum) }

// NewAccountID returns a 12-digit account id.
func NewAccountID() string { return randomString(12, "0123456789") }

// NewAccessKeyID returns an AWS-style access key id.
func NewAccessKeyID() string { return "AKIA" + randomString(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") }

// NewSecretAccessKey returns an AWS-style 40-character secret key.
func NewSecretAccessKey() string {
	return randomString(40, alnum+"+/")
}

// Resource types as they appear in ARNs.
const (
	ResourceChannel   = "channel"
	ResourceStreamKey = "stream-key"
	// IVS Chat's (package ivschat): their ARNs name the ivschat service,
	// which the ARN grammar here must know.
	ResourceRoom                 = "room"
	ResourceLoggingConfiguration = "logging-configuration"
)

// chatResources are the resource types whose ARNs name the ivschat service.
var chatResources = map[string]bool{ResourceRoom: true, ResourceLoggingConfiguration: true}

// ARN is a parsed IVS or IVS Chat resource ARN.
type ARN struct {
	Region   string
	Account  string
	Resource string // channel, stream-key, room, ...
	ID       string
}

// Service is the ARN's service: ivschat for chat resources, else ivs.
func (a ARN) Service() string {
	if chatResources[a.Resource] {
		return "ivschat"
	}
	return "ivs"
}

func (a ARN) String() string {
	return "arn:aws:" + a.Service() + ":" + a.Region + ":" + a.Account + ":" + a.Resource + "/" + a.ID
}

var arnRe = regexp.MustCompile(`^arn:aws:(ivs|ivschat):([a-z0-9-]+):([0-9]+):([a-z-]+)/([a-zA-Z0-9-]+)$`)

// ParseARN parses an IVS ARN. field names the input member in the error.
func ParseARN(field, s string) (ARN, error) {
	if s == "" {
		return ARN{}, Validation(field, "%s must not be empty", field)
	}
	if len(s) > 128 {
		return ARN{}, Validation(field, "%s must be at most 128 characters", field)
	}
	m := arnRe.FindStringSubmatch(s)
	if m == nil {
		return ARN{}, Validation(field, "%s %q is not a valid IVS ARN", field, s)
	}
	a := ARN{Region: m[2], Account: m[3], Resource: m[4], ID: m[5]}
	if a.Service() != m[1] {
		return ARN{}, Validation(field, "%s %q: a %s is an %s resource", field, s, a.Resource, a.Service())
	}
	return a, nil
}

// parseTypedARN parses s and checks that it names a resource of kind.
func parseTypedARN(field, kind, s string) (ARN, error) {
	a, err := ParseARN(field, s)
	if err != nil {
		return a, err
	}
	if a.Resource != kind {
		return a, Validation(field, "%s must be a %s ARN, got %s", field, kind, strings.TrimSuffix(a.Resource, "/"))
	}
	return a, nil
}

// Scope is the region and account whose resources a service holds: it
// names them in ARNs and takes no other's.
type Scope struct {
	Region  string
	Account string
}

// ARN returns the ARN of the resource of type kind with id.
func (sc Scope) ARN(kind, id string) string {
	return ARN{Region: sc.Region, Account: sc.Account, Resource: kind, ID: id}.String()
}

// OwnARN parses an ARN of kind that belongs to this region and account. An
// ARN of another account or region names nothing here: ResourceNotFound.
// field names the input member in a validation error.
func (sc Scope) OwnARN(field, kind, raw string) (ARN, error) {
	a, err := parseTypedARN(field, kind, raw)
	if err != nil {
		return a, err
	}
	if a.Region != sc.Region || a.Account != sc.Account {
		return a, NotFound(kind, raw)
	}
	return a, nil
}

// NewStageStreamKey returns the stream key of a Stages ingest
// configuration: rt_{account}_{region}_{configurationId}_{secret}, as IVS
// Real-Time's StreamKey pattern (rt_[0-9]+_[a-z0-9-]+_[a-zA-Z0-9-]+_.+),
// with 43 alphanumerics (256 bits) of secret.
func NewStageStreamKey(account, region, configID string) string {
	return "rt_" + account + "_" + region + "_" + configID + "_" + randomString(43, alnum)
}
