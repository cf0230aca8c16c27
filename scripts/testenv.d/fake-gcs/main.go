// fake-gcs-server for the test environment: the fake-gcs-server library's server, plus the
// JSON API at the root path.
//
// Why: @google-cloud/storage for Node uses STORAGE_EMULATOR_HOST verbatim as the JSON API base
// URL (so it sends /b/<bucket>/o/... where the real API and fake-gcs-server expect
// /storage/v1/b/...), while it builds upload URLs from the same value plus /upload/storage/v1
// (googleapis/nodejs-storage#1314). The Go and Python clients append /storage/v1 themselves.
// Serving both forms lets one STORAGE_EMULATOR_HOST=http://127.0.0.1:PORT work for all of them.
// A path of exactly /b or starting with /b/ cannot be an XML-API bucket (names have 3-63
// characters), so the rewrite takes nothing from the server's other routes.
package main

import (
	"flag"
	"fmt"
	"log"
	"mime"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

func main() {
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.Uint("port", 4443, "port to listen on")
	backend := flag.String("backend", "filesystem", "filesystem or memory")
	root := flag.String("filesystem-root", "", "data directory for the filesystem backend")
	externalURL := flag.String("external-url", "", "URL handed out for resumable uploads (default http://HOST:PORT)")
	publicHost := flag.String("public-host", "", "host[:port] of the XML API (default HOST:PORT)")
	verbose := flag.Bool("v", false, "log every request")
	flag.Parse()

	addr := net.JoinHostPort(*host, fmt.Sprint(*port))
	if *externalURL == "" {
		*externalURL = "http://" + addr
	}
	if *publicHost == "" {
		*publicHost = addr
	}
	storageRoot := ""
	switch *backend {
	case "memory":
	case "filesystem":
		if *root == "" {
			log.Fatal("-filesystem-root is required with -backend filesystem")
		}
		storageRoot = *root
	default:
		log.Fatalf("unknown -backend %q (filesystem or memory)", *backend)
	}
	_ = mime.AddExtensionType(".yaml", "application/x-yaml")
	_ = mime.AddExtensionType(".yml", "application/x-yaml")

	opts := fakestorage.Options{
		Scheme:      "http",
		Host:        *host,
		Port:        uint16(*port),
		StorageRoot: storageRoot,
		ExternalURL: *externalURL,
		PublicHost:  *publicHost,
		NoListener:  true,
	}
	if *verbose {
		opts.Writer = os.Stderr
	}
	server, err := fakestorage.NewServerWithOptions(opts)
	if err != nil {
		log.Fatalf("fake-gcs-server: %v", err)
	}
	api := server.HTTPHandler()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == "/b" || strings.HasPrefix(p, "/b/") {
			r.URL.Path = "/storage/v1" + p
			if r.URL.RawPath != "" {
				r.URL.RawPath = "/storage/v1" + r.URL.RawPath
			}
		}
		api.ServeHTTP(w, r)
	})

	listener, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatalf("fake-gcs-server: %v", err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 30 * time.Second}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		_ = srv.Close()
	}()
	libraryVersion := "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/fsouza/fake-gcs-server" {
				libraryVersion = dep.Version
			}
		}
	}
	log.Printf("fake-gcs-server (library %s) listening on http://%s, backend %s", libraryVersion, addr, *backend)
	if err := srv.Serve(listener); err != nil && err != http.ErrServerClosed {
		log.Fatalf("fake-gcs-server: %v", err)
	}
}
