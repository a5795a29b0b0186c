package launcher

import (
	"context"
	"fmt"
	"net"
	"time"
)

// reportTimeout bounds connecting to the response address and writing the
// payload: a gateway that does not take it in this time has given up.
const reportTimeout = 30 * time.Second

// Report sends a sealed payload to the gateway's response address. The
// gateway reads until the connection closes, so the payload is written
// whole and the connection closed.
func Report(ctx context.Context, addr string, payload []byte) error {
	ctx, cancel := context.WithTimeout(ctx, reportTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("launcher: reporting to %s: %w", addr, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetWriteDeadline(dl)
	}
	if _, err := c.Write(payload); err != nil {
		return fmt.Errorf("launcher: reporting to %s: %w", addr, err)
	}
	if err := c.Close(); err != nil {
		return fmt.Errorf("launcher: reporting to %s: %w", addr, err)
	}
	return nil
}
