package main

import (
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
)

// describe is a failed workflow's error as the user reads it: the context
// the workflows added ("train: combine forest: "), the root cause's message
// once, then where it happened and its type, with "not retryable" when
// retrying cannot help. The SDK's own text repeats itself: a Go error
// wrapped in a workflow arrives as its full text over its cause, and an
// activity's non-retryable error over a copy of its cause marked
// "retryable: true".
func describe(err error) string {
	var (
		prefix strings.Builder
		where  []string
		root   *temporal.ApplicationError
		other  error // a timeout, cancellation or termination at the root
	)
walk:
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch x := e.(type) {
		case *temporal.ActivityError:
			where = append(where, "activity "+x.ActivityType().GetName())
		case *temporal.ChildWorkflowExecutionError:
			where = append(where, "child workflow "+childType(x))
		case *temporal.ApplicationError:
			root = x
			c := errors.Unwrap(x)
			if c == nil {
				break walk
			}
			p, ok := strings.CutSuffix(x.Message(), c.Error())
			if !ok {
				// The cause repeats the message (or adds to it): this
				// error is the one to show.
				break walk
			}
			prefix.WriteString(p)
		case *temporal.TimeoutError, *temporal.CanceledError, *temporal.TerminatedError, *temporal.PanicError:
			other = x
			break walk
		}
	}
	var b strings.Builder
	b.WriteString(prefix.String())
	switch {
	case other != nil:
		b.WriteString(other.Error())
	case root != nil:
		b.WriteString(root.Message())
	default:
		return err.Error()
	}
	var notes []string
	if len(where) > 0 {
		notes = append(notes, "in "+strings.Join(where, ", "))
	}
	if other == nil && root.Type() != "" && root.Type() != "wrapError" && root.Type() != "errorString" {
		kind := root.Type()
		if root.NonRetryable() {
			kind += ", not retryable"
		}
		notes = append(notes, kind)
	}
	if len(notes) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(notes, "; "))
	}
	return b.String()
}

// childType names a child workflow's type, from its error's text (the SDK
// has no accessor for it).
func childType(e *temporal.ChildWorkflowExecutionError) string {
	if _, rest, ok := strings.Cut(e.Error(), "(type: "); ok {
		if name, _, ok := strings.Cut(rest, ","); ok {
			return name
		}
	}
	return "?"
}
