// Package httpwrap intercepts an http.ResponseWriter: it runs a callback
// once, right before the status line goes out, and can capture what the
// handler writes. Its Writer has Unwrap, so http.ResponseController still
// reaches Flush, Hijack and the deadlines of the writer beneath.
package httpwrap

import (
	"bytes"
	"io"
	"net/http"
)

// Writer wraps an http.ResponseWriter. The zero value is not usable; build
// one with New.
type Writer struct {
	http.ResponseWriter

	before      func(w *Writer, status int)
	wroteHeader bool
	status      int
	written     int64

	capture  bool
	limit    int
	buf      bytes.Buffer
	overflow bool

	discard error // non-nil once Discard was called
}

// Options configure a Writer. The zero value wraps without a callback and
// captures nothing.
type Options struct {
	// BeforeHeader, if not nil, runs once, right before the status line is
	// written: on the first WriteHeader with a final status (not 1xx),
	// Write, ReadFrom or Flush. It may change w.Header(); status is what the
	// handler asked for (200 if it wrote without WriteHeader).
	BeforeHeader func(w *Writer, status int)
	// Capture keeps a copy of the body written, up to CaptureLimit bytes.
	Capture bool
	// CaptureLimit bounds the captured body; past it the copy is dropped
	// and Overflowed reports true, while the response streams on untouched.
	// Zero means no limit.
	CaptureLimit int
}

// New wraps w.
func New(w http.ResponseWriter, o Options) *Writer {
	return &Writer{ResponseWriter: w, before: o.BeforeHeader, capture: o.Capture, limit: o.CaptureLimit}
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// WroteHeader reports whether the status line has been written.
func (w *Writer) WroteHeader() bool { return w.wroteHeader }

// Status returns the status written, or 0 if none was yet.
func (w *Writer) Status() int { return w.status }

// Written returns the number of body bytes written so far.
func (w *Writer) Written() int64 { return w.written }

// Body returns the captured body. It is valid until the next write.
func (w *Writer) Body() []byte { return w.buf.Bytes() }

// Overflowed reports whether the body outgrew CaptureLimit, so Body is not
// the whole body.
func (w *Writer) Overflowed() bool { return w.overflow }

// WriteHeader implements http.ResponseWriter. Informational (1xx) statuses
// pass straight through and do not count as the status line.
func (w *Writer) WriteHeader(code int) {
	if w.wroteHeader {
		// Let net/http log the superfluous call as it would unwrapped.
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.commit(code)
	if w.discard != nil {
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

// Discard makes w drop the handler's response from now on: its status line
// is not written, Write and ReadFrom write nothing and return err, Flush
// does nothing. A BeforeHeader callback that must answer in the handler's
// place (a middleware failing closed) writes its own response to Unwrap()
// and then calls Discard. err must not be nil.
func (w *Writer) Discard(err error) {
	w.discard = err
}

func (w *Writer) commit(code int) {
	w.wroteHeader = true
	w.status = code
	if w.before != nil {
		w.before(w, code)
	}
}

// Write implements http.ResponseWriter.
func (w *Writer) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.discard != nil {
		return 0, w.discard
	}
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	w.keep(p[:n])
	return n, err
}

func (w *Writer) keep(p []byte) {
	if !w.capture || w.overflow {
		return
	}
	if w.limit > 0 && w.buf.Len()+len(p) > w.limit {
		w.overflow = true
		w.buf = bytes.Buffer{}
		return
	}
	w.buf.Write(p)
}

// ReadFrom implements io.ReaderFrom, so sendfile and splice still reach the
// connection when nothing is captured.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.discard != nil {
		return 0, w.discard
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok && (!w.capture || w.overflow) {
		n, err := rf.ReadFrom(r)
		w.written += n
		return n, err
	}
	return io.Copy(writerOnly{w}, r)
}

// writerOnly hides ReadFrom so io.Copy does not recurse into it.
type writerOnly struct{ io.Writer }

// Flush implements http.Flusher; it writes the status line first if needed.
// Without an underlying flusher it does nothing, as http.Flusher must not
// fail; FlushError reports that case.
func (w *Writer) Flush() { _ = w.FlushError() }

// FlushError flushes through http.ResponseController, which is what it
// calls first, and returns http.ErrNotSupported when nothing beneath can
// flush.
func (w *Writer) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.discard != nil {
		return nil
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}
