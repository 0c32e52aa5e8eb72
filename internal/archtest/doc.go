// Package archtest holds the test that keeps onair's imports going the
// way docs/design.md §2 draws them: the data plane (stream) and the media
// engines (rtc, ffmpeg) know nothing of channels, protocol packages never
// import each other (nor through what they share, conns), the store or
// config, and only app chooses the store and reads the configuration. It
// has no code of its own.
package archtest
