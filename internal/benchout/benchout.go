// Package benchout is what the measuring tools (posteed-load,
// posteed-fleetsim) share on the way out: the Markdown row on stdout, with
// or without the table's header, the details on stderr, the full result as
// JSON, and the context that an interrupt cancels.
package benchout

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Result is one measurement.
type Result interface {
	Details() string // the figures the row leaves out
	Row() string     // one Markdown table row
}

// Output holds the output flags of a tool.
type Output struct {
	name, header           string
	withHeader, onlyHeader *bool
	jsonFile               *string
}

// Flags registers -header, -print-header and -json on flag.CommandLine for
// the tool name, whose table header is header.
func Flags(name, header string) *Output {
	return &Output{name: name, header: header,
		withHeader: flag.Bool("header", false, "print the Markdown table's header before the row"),
		onlyHeader: flag.Bool("print-header", false, "print the Markdown table's header and exit"),
		jsonFile:   flag.String("json", "", "also write the full result as JSON to this file"),
	}
}

// HeaderOnly prints the header when -print-header asks for only that.
func (o *Output) HeaderOnly() bool {
	if *o.onlyHeader {
		fmt.Println(o.header)
	}
	return *o.onlyHeader
}

// Context is cancelled by SIGINT or SIGTERM.
func Context() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// Print writes res (nil: nothing measured) and ends the process with 1
// when err is set; the row is printed only for a run without error.
func (o *Output) Print(res Result, err error) {
	if res != nil {
		fmt.Fprint(os.Stderr, res.Details())
		if *o.jsonFile != "" {
			b, _ := json.MarshalIndent(res, "", "  ")
			if werr := os.WriteFile(*o.jsonFile, append(b, '\n'), 0o644); werr != nil {
				fmt.Fprintln(os.Stderr, o.name+":", werr)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, o.name+":", err)
		os.Exit(1)
	}
	if res != nil {
		if *o.withHeader {
			fmt.Println(o.header)
		}
		fmt.Println(res.Row())
	}
}
