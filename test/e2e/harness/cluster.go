package harness

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Cluster is onair nodes sharing a private PostgreSQL database, an
// embedded NATS server and a versitygw bucket store, all on loopback.
type Cluster struct {
	PG    *Postgres
	NATS  *NATS
	S3    *S3Server
	DBURL string
	Nodes []*Server
	opts  ClusterOptions
	t     testing.TB
}

// ClusterOptions change how StartCluster runs the nodes.
type ClusterOptions struct {
	// LeaseTTL is --cluster-lease-ttl; default 3s.
	LeaseTTL time.Duration
	// Args are extra flags for every node.
	Args []string
	// Env are extra environment variables for every node.
	Env []string
}

// StartCluster starts PostgreSQL, NATS, versitygw and n onair nodes named
// n1…nN, each on its own data dir, and waits until every one is healthy.
func StartCluster(t testing.TB, n int, o ClusterOptions) *Cluster {
	t.Helper()
	if o.LeaseTTL == 0 {
		o.LeaseTTL = 3 * time.Second
	}
	c := &Cluster{PG: StartPostgres(t), NATS: StartNATS(t), S3: StartS3(t), opts: o, t: t}
	c.DBURL = c.PG.CreateDatabase("cluster")
	for i := range n {
		c.Nodes = append(c.Nodes, c.StartNode(fmt.Sprintf("n%d", i+1), ""))
	}
	return c
}

// StartNode starts a node named id on dataDir (a new temp dir when "").
func (c *Cluster) StartNode(id, dataDir string) *Server {
	c.t.Helper()
	s3 := c.S3.OnairOptions()
	args := append([]string{"--store", "postgres", "--postgres-url", c.DBURL, "--nats-url", c.NATS.URL(),
		"--node-id", id, "--cluster-lease-ttl", c.opts.LeaseTTL.String()}, s3.Args...)
	return Start(c.t, Options{DataDir: dataDir, Args: append(args, c.opts.Args...), Env: append(s3.Env, c.opts.Env...)})
}

// Pause freezes a server with SIGSTOP (a node that stops answering without
// closing its connections); Resume wakes it.
func (s *Server) Pause() { _ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGSTOP) }

// Resume wakes a server frozen by Pause.
func (s *Server) Resume() { _ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGCONT) }

// Query runs SQL on the cluster's database and returns psql's unaligned
// output, trimmed.
func (c *Cluster) Query(sql string) (string, error) {
	out, err := c.PG.Query("cluster", sql)
	return strings.TrimSpace(out), err
}
