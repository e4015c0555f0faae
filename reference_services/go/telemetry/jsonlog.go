package telemetry

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// JSONLineHandler is a slog.Handler that writes one JSON object per record in
// the seed's shape:
//
//	{"timestamp","level","message","trace_id","span_id","service","attributes"}
//
// trace_id and span_id are the lowercase hex ids of the span active in the
// record's context, or "" when there is none. Attribute values are strings
// where slog gives strings and their JSON form otherwise; groups nest.
type JSONLineHandler struct {
	mu      *sync.Mutex
	w       io.Writer
	service string
	attrs   []pathAttr
	groups  []string
}

// NewJSONLineHandler writes to w, naming service in every line.
func NewJSONLineHandler(w io.Writer, service string) *JSONLineHandler {
	return &JSONLineHandler{mu: &sync.Mutex{}, w: w, service: service}
}

type jsonLine struct {
	Timestamp  string         `json:"timestamp"`
	Level      string         `json:"level"`
	Message    string         `json:"message"`
	TraceID    string         `json:"trace_id"`
	SpanID     string         `json:"span_id"`
	Service    string         `json:"service"`
	Attributes map[string]any `json:"attributes"`
}

// Enabled reports true for every level: filtering is the caller's business.
func (h *JSONLineHandler) Enabled(context.Context, slog.Level) bool { return true }

// Handle writes r as one line.
func (h *JSONLineHandler) Handle(ctx context.Context, r slog.Record) error {
	line := jsonLine{
		Timestamp:  r.Time.UTC().Format("2006-01-02T15:04:05.000Z"),
		Level:      r.Level.String(),
		Message:    r.Message,
		Service:    h.service,
		Attributes: map[string]any{},
	}
	if r.Time.IsZero() {
		line.Timestamp = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		line.TraceID = sc.TraceID().String()
		line.SpanID = sc.SpanID().String()
	}
	for _, pa := range h.attrs {
		addAttr(descend(line.Attributes, pa.path), pa.attr)
	}
	if r.NumAttrs() > 0 {
		target := descend(line.Attributes, h.groups)
		r.Attrs(func(a slog.Attr) bool {
			addAttr(target, a)
			return true
		})
	}
	data, err := json.Marshal(line)
	if err != nil {
		return err
	}
	data = append(data, '\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err = h.w.Write(data)
	return err
}

func addAttr(into map[string]any, a slog.Attr) {
	v := a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if v.Kind() == slog.KindGroup {
		group := v.Group()
		if len(group) == 0 {
			return
		}
		target := into
		if a.Key != "" {
			sub := map[string]any{}
			into[a.Key] = sub
			target = sub
		}
		for _, ga := range group {
			addAttr(target, ga)
		}
		return
	}
	switch v.Kind() {
	case slog.KindString:
		into[a.Key] = v.String()
	case slog.KindTime:
		into[a.Key] = v.Time().UTC().Format(time.RFC3339Nano)
	case slog.KindDuration:
		into[a.Key] = v.Duration().String()
	default:
		into[a.Key] = v.Any()
	}
}

// WithAttrs returns a handler that adds attrs to every line, inside the
// groups opened so far.
func (h *JSONLineHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	h2 := *h
	h2.attrs = append([]pathAttr{}, h.attrs...)
	for _, a := range attrs {
		h2.attrs = append(h2.attrs, pathAttr{path: h.groups, attr: a})
	}
	return &h2
}

// WithGroup returns a handler that nests later attributes under name.
func (h *JSONLineHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.groups = append(append([]string{}, h.groups...), name)
	return &h2
}

type pathAttr struct {
	path []string
	attr slog.Attr
}

func descend(m map[string]any, path []string) map[string]any {
	for _, g := range path {
		sub, ok := m[g].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[g] = sub
		}
		m = sub
	}
	return m
}
