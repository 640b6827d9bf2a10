package flagprovider

import (
	"context"
	"errors"
	"fmt"
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

// pollInterval is how often the provider looks at its watcher for a new
// snapshot, a rejected revision or a change of connectivity: an event
// follows the watcher's own by at most this much.
const pollInterval = 50 * time.Millisecond

// An Option configures [New].
type Option interface{ apply(*options) }

type options struct{ watcher []etcdconf.Option }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithWatcherOptions passes opts to the [etcdconf.New] that loads and
// watches the prefix: a snapshot file, a logger, an observer, a progress
// interval, a backoff. Default: the watcher's defaults.
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

// run is one watcher and the goroutines that follow it.
type run struct {
	w    *etcdconf.Watcher[struct{}]
	stop chan struct{}
	wg   sync.WaitGroup
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

// start loads the prefix with a new watcher and builds its flag set.
func (p *Provider) start(ctx context.Context) (*run, *flagSet, error) {
	w, err := etcdconf.New[struct{}](ctx, p.cli, p.prefix, p.opts.watcher...)
	if err != nil {
		return nil, nil, fmt.Errorf("flagprovider: %w", err)
	}
	snap := w.Current()
	fs, err := buildFlagSet(snap.Keys(), p.prefix, snap.Revision)
	if err != nil {
		w.Close()
		return nil, nil, err
	}
	return &run{w: w, stop: make(chan struct{})}, fs, nil
}

// follow starts r's goroutines: the event forwarder, and the loop that
// applies r's snapshots from fs on.
func (p *Provider) follow(r *run, fs *flagSet) {
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		p.events.forward(r.stop)
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

// watch looks at r's watcher every pollInterval: it applies a new snapshot,
// reports a rejected revision, and follows the connectivity.
func (p *Provider) watch(r *run, fs *flagSet) {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	snap := r.w.Current()
	rejections := r.w.Status().Rejections
	state := stateReady
	for {
		select {
		case <-r.stop:
			return
		case <-r.w.Done():
			p.send(of.ProviderError, "the watcher stopped", nil)
			return
		case <-t.C:
		}
		st := r.w.Status()
		if st.Rejections != rejections {
			rejections = st.Rejections
			msg := "a revision was rejected; keeping the last good flag set"
			if st.Rejected != nil {
				msg = st.Rejected.Error()
			}
			p.send(of.ProviderError, msg, nil)
			state = stateError
		}
		if cur := r.w.Current(); cur != snap {
			snap = cur
			next, err := buildFlagSet(cur.Keys(), p.prefix, cur.Revision)
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
		connected := st.Connectivity() == etcdconf.Connected
		switch {
		case state == stateReady && !connected:
			p.send(of.ProviderStale, "not connected to etcd: "+st.Connectivity().String(), nil)
			state = stateStale
		case state == stateStale && connected:
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
	close(r.stop)
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
	v, d := typed(p.flags.Load().resolve(flag, ec), def, asBool)
	return of.BoolResolutionDetail{Value: v, ProviderResolutionDetail: d}
}

// StringEvaluation evaluates flag as a string.
func (p *Provider) StringEvaluation(_ context.Context, flag string, def string, ec of.FlattenedContext) of.StringResolutionDetail {
	v, d := typed(p.flags.Load().resolve(flag, ec), def, asString)
	return of.StringResolutionDetail{Value: v, ProviderResolutionDetail: d}
}

// FloatEvaluation evaluates flag as a float; an integer variant converts.
func (p *Provider) FloatEvaluation(_ context.Context, flag string, def float64, ec of.FlattenedContext) of.FloatResolutionDetail {
	v, d := typed(p.flags.Load().resolve(flag, ec), def, asFloat)
	return of.FloatResolutionDetail{Value: v, ProviderResolutionDetail: d}
}

// IntEvaluation evaluates flag as an integer; a float variant converts
// only when it is whole (else TYPE_MISMATCH).
func (p *Provider) IntEvaluation(_ context.Context, flag string, def int64, ec of.FlattenedContext) of.IntResolutionDetail {
	v, d := typed(p.flags.Load().resolve(flag, ec), def, asInt)
	return of.IntResolutionDetail{Value: v, ProviderResolutionDetail: d}
}

// ObjectEvaluation evaluates flag as an object: a variant that is a JSON
// object (map[string]any) or array ([]any). Integers in it are int64.
func (p *Provider) ObjectEvaluation(_ context.Context, flag string, def any, ec of.FlattenedContext) of.InterfaceResolutionDetail {
	v, d := typed(p.flags.Load().resolve(flag, ec), def, asObject)
	return of.InterfaceResolutionDetail{Value: v, ProviderResolutionDetail: d}
}

var (
	_ of.FeatureProvider          = (*Provider)(nil)
	_ of.StateHandler             = (*Provider)(nil)
	_ of.ContextAwareStateHandler = (*Provider)(nil)
	_ of.EventHandler             = (*Provider)(nil)
)
