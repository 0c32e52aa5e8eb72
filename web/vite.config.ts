import { resolve } from "node:path";
import { defineConfig } from "vite";

// The console (index.html), the player (play.html) and the broadcast page
// (broadcast.html) build into
// the directory the Go binary embeds. README.txt there stays: it keeps the
// directory in git so that `go build` works before the UI is built.
export default defineConfig({
  base: "/",
  build: {
    outDir: resolve(import.meta.dirname, "../internal/webui/dist"),
    emptyOutDir: false,
    assetsDir: "assets",
    sourcemap: false,
    chunkSizeWarningLimit: 1024,
    rollupOptions: {
      input: {
        console: resolve(import.meta.dirname, "index.html"),
        play: resolve(import.meta.dirname, "play.html"),
        broadcast: resolve(import.meta.dirname, "broadcast.html"),
        stage: resolve(import.meta.dirname, "stage.html"),
      },
    },
  },
});
