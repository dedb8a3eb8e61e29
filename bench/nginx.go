package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// NginxSkipReason returns why the nginx target cannot run here, or "" when it can.
func NginxSkipReason() string {
	if _, err := exec.LookPath("nginx"); err != nil {
		return "nginx is not installed (apt-get install nginx)"
	}
	return ""
}

// nginxConf is a plain reverse proxy with one worker, no access log, and keep-alive
// connections to the upstream; every path lives under dir.
const nginxConf = `worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/client_body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  proxy_buffers 16 16k;
  upstream json { server %[2]s; keepalive 64; }
  server {
    listen 127.0.0.1:%[3]d;
    location / {
      proxy_pass http://json;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`

// startNginx runs nginx, pinned like the other targets when s pins, as a reverse proxy to
// upstream, and returns once it listens.
func startNginx(ctx context.Context, s Subprocess, upstream string) (*Serving, error) {
	dir, err := os.MkdirTemp(s.Dir, "nginx-")
	if err == nil {
		// nginx resolves relative paths against its prefix, -p.
		dir, err = filepath.Abs(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("bench: nginx: %w", err)
	}
	port, err := freePort(ctx)
	if err != nil {
		return nil, fmt.Errorf("bench: nginx: %w", err)
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, dir, upstream, port), 0o600); err != nil {
		return nil, fmt.Errorf("bench: nginx: %w", err)
	}
	// nginx does not print its address: the harness chose the port, and polls it.
	cmd := s.command("nginx", "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	cmd.Env = os.Environ()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	return startChild(ctx, "nginx", cmd, func(io.Reader) ([]string, error) {
		if err := waitListening(ctx, addr); err != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			return nil, fmt.Errorf("%w; error.log: %s", err, log)
		}
		return []string{addr}, nil
	})
}
