package harness

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// versityGW is the S3 server the recording tests use (design.md's pin).
const versityGW = "github.com/versity/versitygw/cmd/versitygw@v1.8.0"

var (
	vgwOnce sync.Once
	vgwPath string
	vgwErr  error
)

// versityBinary builds versitygw once per machine (into the user cache
// directory, so later runs reuse it) and returns its path.
func versityBinary() (string, error) {
	vgwOnce.Do(func() {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir := filepath.Join(cache, "onair-test", "versitygw-v1.8.0")
		vgwPath = filepath.Join(dir, "versitygw")
		if _, err := os.Stat(vgwPath); err == nil {
			return
		}
		cmd := exec.Command("go", "install", versityGW)
		cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=")
		cmd.Dir = os.TempDir() // outside this module
		if out, err := cmd.CombinedOutput(); err != nil {
			vgwErr = fmt.Errorf("build versitygw: %w\n%s", err, out)
		}
	})
	return vgwPath, vgwErr
}

// S3Server is a versitygw on a posix directory.
type S3Server struct {
	Endpoint       string
	Access, Secret string
	Root           string
	addr           string
	proc           *Process
	t              testing.TB
}

// StartS3 builds (once) and starts versitygw on a free loopback port with
// a temp root; buckets are directories under it. It is killed with the test.
func StartS3(t testing.TB) *S3Server {
	t.Helper()
	bin, err := versityBinary()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	s := &S3Server{Endpoint: "http://" + addr, Access: "onairtest", Secret: "onairtestsecret", Root: t.TempDir(), addr: addr, t: t}
	s.start(bin)
	return s
}

func (s *S3Server) start(bin string) {
	s.t.Helper()
	s.proc = StartProcess(s.t, bin, "--port", s.addr, "--access", s.Access, "--secret", s.Secret, "posix", s.Root)
	Eventually(s.t, 20*time.Second, func() error {
		resp, err := http.Get(s.Endpoint + "/")
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil
	})
}

// Stop kills the server (an outage); Restart brings it back on the same
// address and root.
func (s *S3Server) Stop() { s.proc.Kill() }

// Restart starts the server again after Stop.
func (s *S3Server) Restart() {
	bin, _ := versityBinary()
	s.start(bin)
}

// CreateBucket makes a bucket.
func (s *S3Server) CreateBucket(t testing.TB, name string) {
	t.Helper()
	if _, err := s.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
}

// Client is an S3 client of the server.
func (s *S3Server) Client() *s3.Client {
	return s3.New(s3.Options{BaseEndpoint: aws.String(s.Endpoint), Region: "us-east-1", UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s.Access, s.Secret, "")})
}

// OnairOptions are the flags and environment that point onair at s.
func (s *S3Server) OnairOptions() Options {
	return Options{Args: []string{"--s3-endpoint", s.Endpoint},
		Env: []string{"ONAIR_S3_ACCESS_KEY_ID=" + s.Access, "ONAIR_S3_SECRET_ACCESS_KEY=" + s.Secret}}
}

// Keys lists the keys under prefix in bucket.
func (s *S3Server) Keys(ctx context.Context, bucket, prefix string) ([]string, error) {
	var out []string
	p := s3.NewListObjectsV2Paginator(s.Client(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			out = append(out, aws.ToString(o.Key))
		}
	}
	return out, nil
}

// Get returns an object's body.
func (s *S3Server) Get(ctx context.Context, bucket, key string) ([]byte, error) {
	out, err := s.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}
