package config

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadPrecedence(t *testing.T) {
	t.Parallel()
	yml := filepath.Join(t.TempDir(), "onair.yaml")
	if err := os.WriteFile(yml, []byte("region: eu-west-1\nhttp_addr: \":9000\"\nhls_part_duration: 300ms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want func(Config) bool
	}{
		{"defaults", nil, nil, func(c Config) bool {
			return c.HTTPAddr == ":8080" && c.HTTPSAddr == ":8443" && c.RTMPAddr == ":1935" && c.RTMPSAddr == ":1936" && c.Region == "us-east-1" &&
				c.DataDir == "./data" && c.HLSPartDuration == 100*time.Millisecond
		}},
		{"file", []string{"--config", yml}, nil, func(c Config) bool {
			return c.Region == "eu-west-1" && c.HTTPAddr == ":9000" && c.HLSPartDuration == 300*time.Millisecond
		}},
		{"env over file", []string{"--config", yml}, map[string]string{"ONAIR_REGION": "ap-south-1"}, func(c Config) bool {
			return c.Region == "ap-south-1" && c.HTTPAddr == ":9000"
		}},
		{"flag over env", []string{"--config", yml, "--region", "us-west-2"}, map[string]string{"ONAIR_REGION": "ap-south-1"}, func(c Config) bool {
			return c.Region == "us-west-2"
		}},
		{"config from env", nil, map[string]string{"ONAIR_CONFIG": yml}, func(c Config) bool { return c.Region == "eu-west-1" }},
		{"off", []string{"--rtmp-addr", "off"}, nil, func(c Config) bool { return c.RTMPAddr == Off }},
		{"s3 pair", nil, map[string]string{"ONAIR_S3_ACCESS_KEY_ID": "K", "ONAIR_S3_SECRET_ACCESS_KEY": "S",
			"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "AS"}, func(c Config) bool {
			return c.S3AccessKeyID == "K" && c.S3SecretAccessKey == "S"
		}},
		{"s3 pair from AWS", nil, map[string]string{"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "AS"}, func(c Config) bool {
			return c.S3AccessKeyID == "AK" && c.S3SecretAccessKey == "AS"
		}},
		{"half an AWS pair without S3", nil, map[string]string{"AWS_ACCESS_KEY_ID": "AK"}, func(c Config) bool {
			return c.S3Endpoint == ""
		}},
		{"admin pair", nil, map[string]string{"ONAIR_ADMIN_ACCESS_KEY_ID": "AKIA1", "ONAIR_ADMIN_SECRET_ACCESS_KEY": "s"}, func(c Config) bool {
			return c.AdminAccessKeyID == "AKIA1" && c.AdminSecretAccessKey == "s"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(tt.args, env(tt.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(c) {
				t.Fatalf("unexpected config %+v", c)
			}
		})
	}
}

func TestLoadErrorsNameTheSetting(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("no_such_setting: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--http-addr", "nonsense"}, nil, "--http-addr"},
		{[]string{"--http-addr", "off"}, nil, "--http-addr"},
		{[]string{"--log-format", "xml"}, nil, "--log-format"},
		{[]string{"--hls-part-duration", "fast"}, nil, "--hls-part-duration"},
		{[]string{"--hls-part-duration", "10ms"}, nil, "--hls-part-duration"},
		{[]string{"--recording-orphan-grace", "0s"}, nil, "--recording-orphan-grace"},
		{[]string{"--recording-orphan-grace", "48h"}, nil, "--recording-orphan-grace"},
		{[]string{"--tls-cert", "a.pem"}, nil, "--tls-key"},
		{nil, map[string]string{"ONAIR_RTMP_ADDR": "x"}, "--rtmp-addr"},
		{nil, map[string]string{"ONAIR_HLS_SEGMENT_DURATION": "x"}, "ONAIR_HLS_SEGMENT_DURATION"},
		{nil, map[string]string{"ONAIR_ADMIN_ACCESS_KEY_ID": "A"}, "ONAIR_ADMIN_SECRET_ACCESS_KEY"},
		{[]string{"--s3-endpoint", "http://127.0.0.1:9"}, map[string]string{"ONAIR_S3_ACCESS_KEY_ID": "K"}, "ONAIR_S3_SECRET_ACCESS_KEY"},
		{[]string{"--config", bad}, nil, "no_such_setting"},
		{[]string{"extra"}, nil, "extra"},
		{[]string{"--store", "mysql"}, nil, "--store"},
		{[]string{"--store", "postgres"}, nil, "--postgres-url"},
		{nil, map[string]string{"ONAIR_POSTGRES_URL": "postgres://h/db"}, "--store"},
		{[]string{"--store", "postgres", "--postgres-url", "mysql://u:hunter2@h/db"}, nil, "--postgres-url"},
		{[]string{"--store", "postgres", "--postgres-url", "just-a-host"}, nil, "--postgres-url"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			_, err := Load(tt.args, env(tt.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to name %s", err, tt.want)
			}
		})
	}
}

// The store comes from any of the four places; a PostgreSQL URL's password
// never shows in an error.
func TestStoreSetting(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "onair.yaml")
	if err := os.WriteFile(file, []byte("store: postgres\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load([]string{"--config", file}, env(map[string]string{"ONAIR_POSTGRES_URL": "postgres://onair:pw@db:5432/onair"}), io.Discard)
	if err != nil || c.Store != StorePostgres || c.PostgresURL != "postgres://onair:pw@db:5432/onair" {
		t.Fatalf("%+v, %v", c, err)
	}
	c, err = Load(nil, env(nil), io.Discard)
	if err != nil || c.Store != StoreSQLite {
		t.Fatalf("default store %q, %v", c.Store, err)
	}
	_, err = Load([]string{"--store", "postgres", "--postgres-url", "mysql://u:hunter2@h/db"}, env(nil), io.Discard)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v", err)
	}
}

// Every setting has a flag, an environment variable and a row in the
// README; the README's table is generated (go test ./internal/config -update).
var update = flag.Bool("update", false, "rewrite the README's configuration table")

func TestReadmeTable(t *testing.T) {
	path := filepath.Join("..", "..", "README.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const start, end = "<!-- config-table:start -->\n", "<!-- config-table:end -->"
	s := string(b)
	i, j := strings.Index(s, start), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the config-table markers")
	}
	want := s[:i+len(start)] + Markdown() + s[j:]
	if want == s {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("README.md configuration table is stale: run go test ./internal/config -run TestReadmeTable -update")
}

func TestWebhooks(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "onair.yaml")
	if err := os.WriteFile(file, []byte("webhooks:\n  - name: ops\n    url: https://hooks.example/ivs\n    secret: s3cret\nenforce_limits: false\ninput_hours_quota: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ONAIR_WEBHOOK_SECRET": "other"}
	c, err := Load([]string{"--config", file, "--webhook-url", "http://127.0.0.1:9/hook"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := []Webhook{{"default", "http://127.0.0.1:9/hook", "other"}, {"ops", "https://hooks.example/ivs", "s3cret"}}
	if fmt.Sprint(c.Webhooks) != fmt.Sprint(want) || c.EnforceLimits || c.InputHoursQuota != 5 {
		t.Fatalf("webhooks %v, enforce %v, quota %v", c.Webhooks, c.EnforceLimits, c.InputHoursQuota)
	}
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--webhook-url", "http://x/h"}, nil, "ONAIR_WEBHOOK_SECRET"},
		{[]string{"--webhook-url", "ftp://x/h"}, map[string]string{"ONAIR_WEBHOOK_SECRET": "s"}, "http or https"},
		{[]string{"--enforce-limits", "maybe"}, nil, "--enforce-limits"},
		{[]string{"--input-hours-quota", "-1"}, nil, "--input-hours-quota"},
	} {
		_, err := Load(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want one naming %s", tc.args, err, tc.want)
		}
	}
}
