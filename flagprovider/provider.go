package flagprovider

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	of "github.com/open-feature/go-sdk/openfeature"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdconf/etcdconf"
)

// Name is the provider's name in its [of.Metadata] and events.
const Name = "etcdconf-flagd"

// An Option configures [New].
type Option interface{ apply(*options) }

type options struct{ watcher []etcdconf.Option }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithWatcherOptions passes opts to the [etcdconf.New] that loads and
// watches the prefix: a snapshot file, a logger, an observer, a progress
// interval, a backoff. The provider adds its own [etcdconf.Observer] after
// them, which is how it hears of decodes and connectivity; an observer
// given here is called too. Default: the watcher's defaults.
func WithWatcherOptions(opts ...etcdconf.Option) Option {
	return optionFunc(func(o *options) { o.watcher = append(o.watcher, opts...) })
}

// A Provider is an OpenFeature provider that evaluates flagd flag
// definitions held under an etcd prefix, in process, and follows their
// changes live. It implements [of.FeatureProvider], [of.StateHandler],
// [of.ContextAwareStateHandler] and [of.EventHandler].
type Provider struct {
	cli    *clientv3.Client
	prefix string
	opts   options

	flags  atomic.Pointer[flagSet] // never nil after New
	events *eventQueue

	mu  sync.Mutex // serializes Init and Shutdown
	run *run       // guarded by mu; nil after Shutdown
}

// run is one watcher, the observer that hears its decodes and
// connectivity, and the goroutines that follow it.
type run struct {
	w    *etcdconf.Watcher[struct{}]
	snap *etcdconf.Snapshot[struct{}] // the snapshot the first flag set was built from
	// ctx ends when Shutdown stops the run; not a caller's.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// wake is rung by the observer's hooks; capacity 1, never blocks.
	wake    chan struct{}
	started atomic.Bool  // set by Started: the first load's decode is New's
	conn    atomic.Int64 // the last etcdconf.Connectivity heard

	mu      sync.Mutex
	decoded decodeOutcome // guarded by mu: the last decode heard
}

// decodeOutcome is one decode the watcher reported: seq counts them, err
// is nil when its revision was applied.
type decodeOutcome struct {
	seq uint64
	err error
}

func newRun() *run {
	r := &run{wake: make(chan struct{}, 1)}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.conn.Store(int64(etcdconf.Connected))
	return r
}

// observer is the provider's own [etcdconf.Observer], added beside its
// user's: its hooks only record what they hear and ring wake, so the
// watcher never waits for the provider.
func (r *run) observer() etcdconf.Observer {
	return etcdconf.Observer{
		Started: func(func() etcdconf.Status) { r.started.Store(true) },
		Decoded: func(_ int64, _ time.Duration, err error) {
			if !r.started.Load() {
				return // the first load: New builds its flag set itself
			}
			r.mu.Lock()
			r.decoded = decodeOutcome{seq: r.decoded.seq + 1, err: err}
			r.mu.Unlock()
			r.ring()
		},
		Connectivity: func(c etcdconf.Connectivity) {
			r.conn.Store(int64(c))
			r.ring()
		},
	}
}

func (r *run) ring() {
	select {
	case r.wake <- struct{}{}:
	default: // a wake-up is pending: it reads the newest state
	}
}

func (r *run) lastDecode() decodeOutcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.decoded
}

// New loads the flag definitions under prefix, which must end in "/", and
// watches it with the root package's watcher: its recovery, liveness and
// options (see [WithWatcherOptions]). ctx bounds the first load only. It
// returns an error when the first load fails, or when its keys do not make
// a flag set (a [*DefinitionError]).
//
// Under prefix, a key whose name ends in .json, .yaml or .yml holds a whole
// flagd flag-definition document ("flags", "$evaluators", "metadata"); the
// key "$evaluators" at the prefix root holds the evaluators the other keys'
// "$ref"s name; any other key holds one flag's definition, in JSON or YAML,
// and its last segment is the flag's key.
//
// The provider never closes cli.
func New(ctx context.Context, cli *clientv3.Client, prefix string, opts ...Option) (*Provider, error) {
	if !strings.HasSuffix(prefix, "/") {
		return nil, fmt.Errorf("flagprovider: prefix %q does not end in \"/\"", prefix)
	}
	p := &Provider{cli: cli, prefix: prefix, events: newEventQueue()}
	for _, o := range opts {
		o.apply(&p.opts)
	}
	r, fs, err := p.start(ctx)
	if err != nil {
		return nil, err
	}
	p.flags.Store(fs)
	p.run = r
	p.follow(r, fs)
	return p, nil
}

// start loads the prefix with a new watcher, its observer added after the
// user's, and builds its flag set.
func (p *Provider) start(ctx context.Context) (*run, *flagSet, error) {
	r := newRun()
	opts := append(slices.Clip(p.opts.watcher), etcdconf.WithObserver(r.observer()))
	w, err := etcdconf.New[struct{}](ctx, p.cli, p.prefix, opts...)
	if err != nil {
		r.cancel()
		return nil, nil, fmt.Errorf("flagprovider: %w", err)
	}
	r.w, r.snap = w, w.Current()
	fs, err := buildFlagSet(r.snap.Keys(), p.prefix, r.snap.Revision)
	if err != nil {
		w.Close()
		r.cancel()
		return nil, nil, err
	}
	return r, fs, nil
}

// follow starts r's goroutines: the event forwarder, and the loop that
// applies r's snapshots from fs on.
func (p *Provider) follow(r *run, fs *flagSet) {
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		p.events.forward(r.ctx.Done())
	}()
	go func() {
		defer r.wg.Done()
		p.watch(r, fs)
	}()
}

// provider states, as the events sent last told the SDK.
const (
	stateReady = iota
	stateStale
	stateError
)

// watch turns what r's observer heard into events, until r stops: a new
// snapshot is built into a flag set (CONFIGURATION_CHANGED, or
// PROVIDER_ERROR when it is no flag set), a revision the watcher rejected
// is a PROVIDER_ERROR, and connectivity other than Connected is STALE
// until it is Connected again (READY). The watcher's Disconnected already
// means "not proved current for three progress intervals" (its liveness
// check runs every interval), which is what [etcdconf.Status.Stale] with
// three intervals would say: no timer of the provider's own is needed.
func (p *Provider) watch(r *run, fs *flagSet) {
	last, handled := r.snap, uint64(0)
	state := stateReady
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.w.Done():
			p.send(of.ProviderError, "the watcher stopped", nil)
			return
		case <-r.wake:
		}
		d := r.lastDecode()
		// The watcher calls Decoded once Current returns the snapshot decoded,
		// so this is that snapshot or a newer one.
		snap := r.w.Current()
		if snap != last {
			last = snap
			next, err := buildFlagSet(snap.Keys(), p.prefix, snap.Revision)
			if err != nil {
				p.send(of.ProviderError, err.Error(), nil)
				state = stateError
			} else {
				p.flags.Store(next)
				changed := changedFlags(fs, next)
				fs = next
				if state == stateError {
					p.send(of.ProviderReady, "", nil)
					state = stateReady
				}
				if len(changed) > 0 {
					p.send(of.ProviderConfigChange, "", changed)
				}
			}
		}
		if d.seq != handled && d.err != nil {
			p.send(of.ProviderError, d.err.Error(), nil)
			state = stateError
		}
		handled = d.seq
		c := etcdconf.Connectivity(r.conn.Load())
		switch {
		case state == stateReady && c != etcdconf.Connected:
			p.send(of.ProviderStale, "not connected to etcd: "+c.String(), nil)
			state = stateStale
		case state == stateStale && c == etcdconf.Connected:
			p.send(of.ProviderReady, "", nil)
			state = stateReady
		}
	}
}

func (p *Provider) send(t of.EventType, msg string, flags []string) {
	ev := of.Event{ProviderName: Name, EventType: t,
		ProviderEventDetails: of.ProviderEventDetails{Message: msg, FlagChanges: flags}}
	if t == of.ProviderError {
		ev.ErrorCode = of.GeneralCode
	}
	p.events.push(ev)
}

// Metadata returns the provider's name, [Name].
func (p *Provider) Metadata() of.Metadata { return of.Metadata{Name: Name} }

// Hooks returns none.
func (p *Provider) Hooks() []of.Hook { return nil }

// EventChannel returns the channel of the provider's events; the same
// channel for the provider's life. See [eventQueue] for how sends
// coalesce: they never block.
func (p *Provider) EventChannel() <-chan of.Event { return p.events.out }

// Init starts a new watcher if [Provider.Shutdown] stopped the last one;
// after [New] it does nothing.
func (p *Provider) Init(evalCtx of.EvaluationContext) error {
	return p.InitWithContext(context.Background(), evalCtx)
}

// InitWithContext is [Provider.Init], ctx bounding the new watcher's first
// load. If the flag set it loads differs from the one served before, a
// CONFIGURATION_CHANGED names the flags that changed.
func (p *Provider) InitWithContext(ctx context.Context, _ of.EvaluationContext) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.run != nil {
		return nil
	}
	r, fs, err := p.start(ctx)
	if err != nil {
		return err
	}
	old := p.flags.Swap(fs)
	p.run = r
	if changed := changedFlags(old, fs); len(changed) > 0 {
		p.send(of.ProviderConfigChange, "", changed)
	}
	p.follow(r, fs)
	return nil
}

// Shutdown stops the watcher and the provider's goroutines; it does not
// close the client. Evaluations keep answering from the last flag set;
// no event is sent until [Provider.Init] starts a new watcher.
func (p *Provider) Shutdown() { _ = p.ShutdownWithContext(context.Background()) }

// ShutdownWithContext is [Provider.Shutdown]; it returns ctx's error if ctx
// ends before the goroutines have.
func (p *Provider) ShutdownWithContext(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.run
	if r == nil {
		return nil
	}
	p.run = nil
	r.cancel()
	err := r.w.Close()
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	p.events.clear()
	if errors.Is(err, etcdconf.ErrClosed) {
		err = nil
	}
	return err
}

// BooleanEvaluation evaluates flag as a boolean.
func (p *Provider) BooleanEvaluation(_ context.Context, flag string, def bool, ec of.FlattenedContext) of.BoolResolutionDetail {
	f := p.flags.Load().flags[flag]
	if f != nil && f.fixed != nil {
		if x := &f.fixed.bool; !x.byDefault {
			return x.result
		}
		r := f.fixed.bool.result
		r.Value = def
		return r
	}
	return resolveBool(f, ec, def)
}

// StringEvaluation evaluates flag as a string.
func (p *Provider) StringEvaluation(_ context.Context, flag string, def string, ec of.FlattenedContext) of.StringResolutionDetail {
	f := p.flags.Load().flags[flag]
	if f != nil && f.fixed != nil {
		if x := &f.fixed.string; !x.byDefault {
			return x.result
		}
		r := f.fixed.string.result
		r.Value = def
		return r
	}
	return resolveString(f, ec, def)
}

// FloatEvaluation evaluates flag as a float; an integer variant converts.
func (p *Provider) FloatEvaluation(_ context.Context, flag string, def float64, ec of.FlattenedContext) of.FloatResolutionDetail {
	f := p.flags.Load().flags[flag]
	if f != nil && f.fixed != nil {
		if x := &f.fixed.float; !x.byDefault {
			return x.result
		}
		r := f.fixed.float.result
		r.Value = def
		return r
	}
	return resolveFloat(f, ec, def)
}

// IntEvaluation evaluates flag as an integer; a float variant converts
// only when it is whole (else TYPE_MISMATCH).
func (p *Provider) IntEvaluation(_ context.Context, flag string, def int64, ec of.FlattenedContext) of.IntResolutionDetail {
	f := p.flags.Load().flags[flag]
	if f != nil && f.fixed != nil {
		if x := &f.fixed.int; !x.byDefault {
			return x.result
		}
		r := f.fixed.int.result
		r.Value = def
		return r
	}
	return resolveInt(f, ec, def)
}

// ObjectEvaluation evaluates flag as an object: a variant that is a JSON
// object (map[string]any) or array ([]any). Integers in it are int64.
func (p *Provider) ObjectEvaluation(_ context.Context, flag string, def any, ec of.FlattenedContext) of.InterfaceResolutionDetail {
	f := p.flags.Load().flags[flag]
	if f != nil && f.fixed != nil {
		if x := &f.fixed.object; !x.byDefault {
			return x.result
		}
		r := f.fixed.object.result
		r.Value = def
		return r
	}
	return resolveInterface(f, ec, def)
}

// resolveAs is the path of a flag whose result depends on ec, or of an
// unknown flag (f nil): FLAG_NOT_FOUND. A flag with fixed results has
// been answered from them before. It and the functions below are apart
// from the evaluation methods so that these stay small: a static flag's
// answer is a map lookup and a copy.
func resolveAs[T any](f *flag, ec of.FlattenedContext, def T, conv func(any) (T, bool)) (T, of.ProviderResolutionDetail) {
	if f == nil {
		return def, notFound
	}
	v, d, _ := typed(f.resolve(ec), def, conv)
	return v, d
}

func resolveBool(f *flag, ec of.FlattenedContext, def bool) of.BoolResolutionDetail {
	v, d := resolveAs(f, ec, def, asBool)
	return of.BoolResolutionDetail{Value: v, ProviderResolutionDetail: d}
}

func resolveString(f *flag, ec of.FlattenedContext, def string) of.StringResolutionDetail {
	v, d := resolveAs(f, ec, def, asString)
	return of.StringResolutionDetail{Value: v, ProviderResolutionDetail: d}
}

func resolveFloat(f *flag, ec of.FlattenedContext, def float64) of.FloatResolutionDetail {
	v, d := resolveAs(f, ec, def, asFloat)
	return of.FloatResolutionDetail{Value: v, ProviderResolutionDetail: d}
}

func resolveInt(f *flag, ec of.FlattenedContext, def int64) of.IntResolutionDetail {
	v, d := resolveAs(f, ec, def, asInt)
	return of.IntResolutionDetail{Value: v, ProviderResolutionDetail: d}
}

func resolveInterface(f *flag, ec of.FlattenedContext, def any) of.InterfaceResolutionDetail {
	v, d := resolveAs(f, ec, def, asObject)
	return of.InterfaceResolutionDetail{Value: v, ProviderResolutionDetail: d}
}

var (
	_ of.FeatureProvider          = (*Provider)(nil)
	_ of.StateHandler             = (*Provider)(nil)
	_ of.ContextAwareStateHandler = (*Provider)(nil)
	_ of.EventHandler             = (*Provider)(nil)
)
