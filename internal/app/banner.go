package app

import (
	"fmt"
	"net"
	"strconv"

	"github.com/onair-video/onair/internal/config"
	"github.com/onair-video/onair/internal/ivs"
)

func printBanner(opt Options, cfg config.Config, l *listeners, a ivs.Account, credPath string) {
	if opt.Stdout == nil {
		return
	}
	host := cfg.PublicHost
	if host == "" {
		host = "127.0.0.1"
	}
	p := l.ports()
	hp := func(port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
	w := opt.Stdout
	fmt.Fprintf(w, "\nonair %s is running\n\n", opt.Version)
	fmt.Fprintf(w, "  Console:      http://%s/\n", hp(p["http"]))
	fmt.Fprintf(w, "  API endpoint: http://%s  (region %s)\n", hp(p["http"]), cfg.Region)
	if l.rtmps != nil {
		fmt.Fprintf(w, "  Ingest:       rtmps://%s/app/<stream key>\n", hp(p["rtmps"]))
	}
	if l.rtmp != nil {
		fmt.Fprintf(w, "                rtmp://%s/app/<stream key>  (channels and stage ingest configurations with insecureIngest only)\n", hp(p["rtmp"]))
	}
	if l.srt != nil {
		fmt.Fprintf(w, "                srt://%s?streamid=<stream key>\n", hp(p["srt"]))
	}
	if l.webrtcUDP != nil {
		fmt.Fprintf(w, "                http://%s/whip  (WHIP, Authorization: Bearer <stream key>)\n", hp(p["http"]))
		fmt.Fprintf(w, "  Broadcast:    http://%s/broadcast  (go live from this browser)\n", hp(p["http"]))
		if l.https != nil {
			fmt.Fprintf(w, "  Web Broadcast SDK endpoint: https://%s  (IVS's amazon-ivs-web-broadcast, with the stream key;\n", hp(p["https"]))
			fmt.Fprintf(w, "                a self-signed certificate needs one visit to https://%s/ to accept it)\n", hp(p["https"]))
		}
	}
	fmt.Fprintf(w, "\n  Admin access key id:     %s\n", a.AccessKeyID)
	if opt.ShowSecret {
		fmt.Fprintf(w, "  Admin secret access key: %s\n", a.SecretAccessKey.Reveal())
	} else {
		fmt.Fprintf(w, "  Admin secret access key: in %s\n", credPath)
	}
	fmt.Fprintf(w, "\n  Try: AWS_SHARED_CREDENTIALS_FILE=%s aws --profile onair --region %s \\\n", credPath, cfg.Region)
	fmt.Fprintf(w, "         --endpoint-url http://%s ivs create-channel --name demo --type BASIC --latency-mode LOW\n\n", hp(p["http"]))
}
