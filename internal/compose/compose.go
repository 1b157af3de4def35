// Package compose renders compositions: a bounded pool of workers claims
// enqueued compositions from the store under a lease, lays out the
// session's recordings as the composition's video_layout asks, and has
// ffmpeg render them into one MP4 (H.264 and AAC) kept in the file store
// under the composition's key. A worker renews its lease while ffmpeg
// runs; a job whose worker stopped or crashed is claimed again once its
// lease has passed, by this server after a restart or by another one.
package compose

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/roomsd/roomsd/internal/blob"
	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/store"
)

// Config is what a Pool works with. Zero durations and counts take the
// defaults given.
type Config struct {
	Rooms *rooms.Service
	// Files holds the recordings and receives the compositions; ffmpeg
	// reads and writes them through their local paths.
	Files blob.Store
	// URL is the plain download address of a composition.
	URL func(id string) string
	// Workers is how many compositions render at once (0: none).
	Workers int
	// FFmpeg and FFprobe name the programs (default "ffmpeg" and
	// "ffprobe", looked up on PATH).
	FFmpeg, FFprobe string
	// Lease is how long a claim holds without renewal (default 30 s);
	// Renew is how often a worker renews it (default a third of Lease).
	Lease, Renew time.Duration
	// Poll is how often an idle worker looks for work it was not woken
	// for (default 1 s).
	Poll time.Duration
	// MaxAttempts is how many claims a composition gets before it fails
	// as interrupted too often (default 5).
	MaxAttempts int
	// ProgressEvery is the least time between two progress lines of a
	// render (default 5 s).
	ProgressEvery time.Duration
	Log           *slog.Logger
}

// Pool runs the workers. Start it once; Close stops it.
type Pool struct {
	cfg  Config
	wake chan struct{}
	// ctx ends when the pool closes; every job's context derives from it.
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// New returns a pool that has not started.
func New(cfg Config) *Pool {
	if cfg.FFmpeg == "" {
		cfg.FFmpeg = "ffmpeg"
	}
	if cfg.FFprobe == "" {
		cfg.FFprobe = "ffprobe"
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.Renew <= 0 {
		cfg.Renew = cfg.Lease / 3
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Pool{cfg: cfg, wake: make(chan struct{}, 1), ctx: ctx, stop: stop}
}

// Start starts the workers.
func (p *Pool) Start() {
	for range p.cfg.Workers {
		p.wg.Add(1)
		go p.work()
	}
}

// Notify wakes an idle worker: a composition was enqueued. It never
// blocks, and does nothing on a nil pool.
func (p *Pool) Notify() {
	if p == nil {
		return
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Close stops the workers: renders in progress are stopped and their
// compositions released to the next claim. It returns once every worker
// has settled its job.
func (p *Pool) Close() {
	p.stop()
	p.wg.Wait()
}

// work claims and renders compositions until the pool closes.
func (p *Pool) work() {
	defer p.wg.Done()
	for p.ctx.Err() == nil {
		c, ok, err := p.cfg.Rooms.ClaimComposition(p.ctx, p.cfg.Lease)
		if err != nil && p.ctx.Err() == nil {
			p.cfg.Log.Error("claim a composition to render", "err", err)
		}
		if ok {
			p.run(c)
			continue
		}
		select {
		case <-p.ctx.Done():
		case <-p.wake:
		case <-time.After(p.cfg.Poll):
		}
	}
}

// errLeaseLost stops a render whose composition is no longer this
// worker's (deleted, or claimed again after the lease ran out).
var errLeaseLost = errors.New("the composition's lease was lost")

// settling is a context for recording a job's outcome, which must
// happen even when the pool is closing.
func (p *Pool) settling() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(p.ctx), 10*time.Second)
}

// run renders one claimed composition and records the outcome.
func (p *Pool) run(c domain.Composition) {
	log := p.cfg.Log.With("composition_id", c.ID, "session_id", c.SessionID, "attempt", c.Attempts)
	if c.Attempts > p.cfg.MaxAttempts {
		p.fail(c, log, failure(fmt.Sprintf("rendering was interrupted %d times (the server stopped, or lost the job, while rendering); "+
			"giving up", c.Attempts-1)))
		return
	}
	jctx, cancel := context.WithCancelCause(p.ctx)
	defer cancel(nil)
	var lease sync.WaitGroup
	lease.Add(1)
	go func() {
		defer lease.Done()
		p.keepLease(jctx, cancel, c, log)
	}()
	started := time.Now()
	part, pl, err := p.render(jctx, c, log)
	cancel(nil)
	lease.Wait()

	var f failure
	isFailure := errors.As(err, &f)
	switch {
	case errors.Is(context.Cause(jctx), errLeaseLost) || ((err == nil || isFailure) && !p.holds(c, log)):
		log.Warn("composition no longer this worker's (deleted, or claimed again after its lease ran out); render dropped")
		p.remove(part)
	case err == nil:
		p.complete(c, part, pl, time.Since(started), log)
	case isFailure:
		p.remove(part)
		p.fail(c, log, f)
	case p.ctx.Err() != nil:
		p.remove(part)
		ctx, cancel := p.settling()
		defer cancel()
		if err := p.cfg.Rooms.ReleaseComposition(ctx, c.ID, c.Attempts); err != nil {
			log.Warn("release a composition at shutdown; it is claimed again once its lease runs out", "err", err)
		}
		log.Info("rendering stopped by shutdown; the composition will be rendered again")
	default:
		p.remove(part)
		log.Error("composition not rendered; it is tried again once its lease runs out", "err", err)
	}
}

// holds reports whether the job is still this worker's, renewing its
// lease once more, just before its outcome is recorded: a render that
// ended between two renewals may have been taken over. A store that
// cannot say leaves the answer yes; recording the outcome will tell.
func (p *Pool) holds(c domain.Composition, log *slog.Logger) bool {
	ctx, cancel := p.settling()
	defer cancel()
	ok, err := p.cfg.Rooms.RenewComposition(ctx, c.ID, c.Attempts, p.cfg.Lease)
	if err != nil {
		log.Warn("renew a composition's lease", "err", err)
		return true
	}
	return ok
}

// keepLease renews the job's lease until ctx ends, and cancels the job
// if the lease is found lost.
func (p *Pool) keepLease(ctx context.Context, cancel context.CancelCauseFunc, c domain.Composition, log *slog.Logger) {
	t := time.NewTicker(p.cfg.Renew)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ok, err := p.cfg.Rooms.RenewComposition(ctx, c.ID, c.Attempts, p.cfg.Lease)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("renew a composition's lease", "err", err)
		case err == nil && !ok:
			cancel(errLeaseLost)
			return
		}
	}
}

// render lays the composition out and has ffmpeg write it to a part
// file, whose key it returns ("" if none was made).
func (p *Pool) render(ctx context.Context, c domain.Composition, log *slog.Logger) (part string, pl plan, err error) {
	if _, err := exec.LookPath(p.cfg.FFmpeg); err != nil {
		return "", plan{}, failure(noFFmpeg)
	}
	recs, err := p.recordings(ctx, c.SessionID, log)
	if err != nil {
		return "", plan{}, err
	}
	if pl, err = newPlan(c, recs); err != nil {
		return "", plan{}, err
	}
	for i, t := range pl.tiles {
		if t.rec.Codec == "h264" {
			if pl.tiles[i].rate, err = p.h264Rate(ctx, t.input); err != nil {
				return "", plan{}, err
			}
		}
	}
	// Parts of earlier attempts (a crash mid-render) are of no use.
	for i := 1; i < c.Attempts; i++ {
		_ = p.cfg.Files.Delete(ctx, partKey(c.ID, i))
	}
	part = partKey(c.ID, c.Attempts)
	path, err := p.create(ctx, part)
	if err != nil {
		return "", plan{}, err
	}
	log.Info("composition rendering started", "resolution", fmt.Sprintf("%dx%d", pl.width, pl.height), "videos", len(pl.tiles),
		"audio", len(pl.audio), "length", pl.length.Round(time.Millisecond))
	return part, pl, p.ffmpeg(ctx, pl, path, log)
}

// partKey is where attempt n of a composition is rendered; it moves to
// the composition's key once whole.
func partKey(id string, attempt int) string {
	return fmt.Sprintf("%s.%d.part", domain.CompositionKey(id), attempt)
}

// create makes an empty blob (and its directory) for ffmpeg to write
// into, and returns its path.
func (p *Pool) create(ctx context.Context, key string) (string, error) {
	path, ok := p.cfg.Files.Path(key)
	if !ok {
		return "", failure("the file store keeps no local files for ffmpeg to write")
	}
	w, err := p.cfg.Files.Create(ctx, key)
	if err != nil {
		return "", failure(fmt.Sprintf("cannot create the composition's file: %v", err))
	}
	if err := w.Close(); err != nil {
		return "", failure(fmt.Sprintf("cannot create the composition's file: %v", err))
	}
	return path, nil
}

// recordings returns the session's completed recordings whose files
// ffmpeg can read.
func (p *Pool) recordings(ctx context.Context, sessionID string, log *slog.Logger) ([]recording, error) {
	completed := domain.RecordingCompleted
	f := store.RecordingFilter{SessionID: &sessionID, Status: &completed}
	var out []recording
	for page := 1; ; page++ {
		rs, total, err := p.cfg.Rooms.ListRecordings(ctx, f, store.Page{Number: page, Size: 100})
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			key := domain.RecordingKey(r.ID)
			path, ok := p.cfg.Files.Path(key)
			if !ok {
				return nil, failure("the file store keeps no local files for ffmpeg to read")
			}
			if info, err := p.cfg.Files.Stat(ctx, key); err != nil || info.Size == 0 {
				log.Warn("a recording's file is missing or empty; the composition goes without it", "recording_id", r.ID, "err", err)
				continue
			}
			out = append(out, recording{Recording: r, path: path})
		}
		if len(rs) == 0 || page*100 >= total {
			return out, nil
		}
	}
}

// complete moves the rendered file under the composition's key and marks
// the composition completed, which sends its webhook.
func (p *Pool) complete(c domain.Composition, part string, pl plan, took time.Duration, log *slog.Logger) {
	ctx, cancel := p.settling()
	defer cancel()
	key := domain.CompositionKey(c.ID)
	from, _ := p.cfg.Files.Path(part)
	to, _ := p.cfg.Files.Path(key)
	if err := os.Rename(from, to); err != nil {
		p.remove(part)
		p.fail(c, log, failure(fmt.Sprintf("cannot store the rendered file: %v", err)))
		return
	}
	info, err := p.cfg.Files.Stat(ctx, key)
	if err != nil {
		p.fail(c, log, failure(fmt.Sprintf("the rendered file is gone: %v", err)))
		return
	}
	_, err = p.cfg.Rooms.CompleteComposition(ctx, c.ID, domain.SizeMB(info.Size), domain.DurationSecs(pl.length), p.cfg.URL(c.ID))
	switch {
	case errors.Is(err, domain.ErrNotFound):
		log.Info("composition deleted while it rendered; its file is removed")
		_ = p.cfg.Files.Delete(ctx, key)
	case err != nil:
		log.Error("mark a rendered composition completed; it is rendered again once its lease runs out", "err", err)
	default:
		log.Info("composition completed", "bytes", info.Size, "length", pl.length.Round(time.Millisecond),
			"took", took.Round(time.Millisecond))
	}
}

// fail marks the composition failed with the reason.
func (p *Pool) fail(c domain.Composition, log *slog.Logger, reason failure) {
	ctx, cancel := p.settling()
	defer cancel()
	if _, err := p.cfg.Rooms.FailComposition(ctx, c.ID, string(reason)); err != nil && !errors.Is(err, domain.ErrNotFound) {
		log.Error("mark a composition failed", "reason", string(reason), "err", err)
		return
	}
	log.Warn("composition failed", "reason", string(reason))
}

// remove deletes a part file, if one was made.
func (p *Pool) remove(part string) {
	if part == "" {
		return
	}
	ctx, cancel := p.settling()
	defer cancel()
	_ = p.cfg.Files.Delete(ctx, part)
}
