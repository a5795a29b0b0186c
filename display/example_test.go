package display_test

import (
	"encoding/json"
	"fmt"

	"github.com/wasipy/wasipy/display"
)

// printer stands for the kernel's publisher of the running cell
// (kernel.Kernel.Display): it prints each message as it would go on the
// wire.
type printer struct{}

func (printer) Display(o display.Output) error {
	if err := o.Check(); err != nil {
		return err
	}
	b, _ := json.Marshal(o.Content())
	fmt.Println(o.Kind, string(b))
	return nil
}

// A Go function (a host module that Python calls, or the kernel) shows a
// table in the running cell, then replaces it by its display id.
func Example() {
	var table display.Bundle
	_ = table.Set("text/plain", "n  square\n2  4")
	_ = table.Set("text/markdown", "| n | square |\n|---|---|\n| 2 | 4 |")
	table.SetDisplayID("squares")
	if err := display.Show(printer{}, table); err != nil {
		fmt.Println(err)
	}

	var done display.Bundle
	_ = done.Set("text/plain", "done")
	if err := display.Update(printer{}, "squares", done); err != nil {
		fmt.Println(err)
	}

	// A text type must carry text: the bundle is refused before it is sent.
	var bad display.Bundle
	fmt.Println(bad.Set("text/html", 42))
	// Output:
	// display_data {"data":{"text/markdown":"| n | square |\n|---|---|\n| 2 | 4 |","text/plain":"n  square\n2  4"},"metadata":{},"transient":{"display_id":"squares"}}
	// update_display_data {"data":{"text/plain":"done"},"metadata":{},"transient":{"display_id":"squares"}}
	// display: text/html is not text
}
