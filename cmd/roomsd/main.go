// Command roomsd is a self-hosted video rooms server whose REST API is
// compatible with the Telnyx Video Rooms API. This file only wires: it reads
// the command line, builds the logger and hands over to package app.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/roomsd/roomsd/internal/app"
	"github.com/roomsd/roomsd/internal/config"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

const usage = `roomsd: self-hosted video rooms with a Telnyx-compatible REST API.

Usage:
  roomsd [serve] [flags]   run the server (the default command)
  roomsd bot --room ID     join a room with synthetic media and report what
                           arrived, as one participant or many (load)
  roomsd link --room ID    make a lasting meeting link to a room and print it
  roomsd keys              print the public keys that verify webhooks and tokens
  roomsd backup --to FILE  copy the SQLite database while the server runs
  roomsd version           print the version and the source revision
  roomsd help              print this help (also: roomsd --help)

Each command has its own help: "roomsd serve --help" lists the server's
flags and ROOMSD_* variables, "roomsd bot --help" the bot's flags and its
JSON report, "roomsd link --help" how to make a meeting link, "roomsd
keys --help" what keys reads, "roomsd backup --help" what a backup holds.
`

// commands are the first arguments that name a command.
var commands = map[string]bool{"serve": true, "bot": true, "link": true, "keys": true, "backup": true, "version": true, "help": true}

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		switch a := args[0]; {
		case a == "-h" || a == "-help" || a == "--help":
			fmt.Fprint(stdout, usage)
			return 0
		case a == "-version" || a == "--version":
			cmd, args = "version", args[1:]
		case commands[a]:
			cmd, args = a, args[1:]
		case !strings.HasPrefix(a, "-"):
			fmt.Fprintf(stderr, "roomsd: unknown command %q; the commands are serve, bot, link, keys, backup, version and help (run \"roomsd help\")\n", a)
			return 2
		}
	}
	switch cmd {
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "bot":
		return botMain(args, getenv, stdout, stderr)
	case "keys":
		return keysMain(args, getenv, stdout, stderr)
	case "link":
		return linkMain(args, getenv, stdout, stderr)
	case "backup":
		return backupMain(args, getenv, stdout, stderr)
	case "version":
		if len(args) > 0 {
			fmt.Fprint(stdout, "Usage: roomsd version (or roomsd --version)\n\nPrints the roomsd version, the source revision it was built from and the Go version.\n")
			if args[0] == "--help" || args[0] == "-h" || args[0] == "-help" {
				return 0
			}
			return 2
		}
		fmt.Fprintf(stdout, "roomsd %s\n%s\n", buildVersion(), buildDetails())
		return 0
	}

	cfg, err := config.Load(args, getenv, stderr)
	if errors.Is(err, config.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "roomsd: %v\n", err)
		return 2
	}
	logger := newLogger(cfg, stderr)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal starts a graceful stop, a second one
		// ends the process at once.
		<-ctx.Done()
		stop()
	}()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		fmt.Fprintf(stderr, "roomsd: listen on %s: %v (is another server using it? set ROOMSD_ADDR)\n", cfg.Addr, err)
		return 1
	}
	// The address as bound (a port 0 picked): download links name it
	// unless ROOMSD_PUBLIC_URL is set.
	cfg.Addr = ln.Addr().String()
	a, err := app.New(ctx, cfg, app.Options{Stdout: stdout, Logger: logger})
	if err != nil {
		ln.Close()
		fmt.Fprintf(stderr, "roomsd: %v\n", err)
		return 1
	}
	// SIGHUP reads the TLS certificate files again (after a renewal).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			if err := a.ReloadTLS(); err != nil {
				logger.Error("SIGHUP: the TLS certificate was not reloaded; the previous one stays", "err", err)
			} else if cfg.TLS() {
				logger.Info("SIGHUP: TLS certificate reloaded")
			}
		}
	}()
	if err := a.Serve(ctx, ln); err != nil {
		fmt.Fprintf(stderr, "roomsd: %v\n", err)
		return 1
	}
	return 0
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "devel-" + s.Value[:12]
		}
	}
	return "devel"
}

// buildDetails says what the binary was built from: the version control
// revision and its time (and whether the tree had changes), which go build
// records in a git checkout, and the Go version.
func buildDetails() string {
	rev, at, modified := "", "", false
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	var b strings.Builder
	if rev == "" {
		b.WriteString("revision: unknown (not built by go build from a git checkout)\n")
	} else {
		fmt.Fprintf(&b, "revision: %s", rev)
		if at != "" {
			fmt.Fprintf(&b, " (%s)", at)
		}
		if modified {
			b.WriteString(", with uncommitted changes")
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "built with %s", runtime.Version())
	return b.String()
}
