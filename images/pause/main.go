// pause: the pod sandbox's process for the test cluster (scripts/testenv cluster). It holds the
// pod's namespaces open, reaps orphaned children (it is PID 1 of the pod when the PID namespace is
// shared) and exits 0 on SIGTERM or SIGINT, like Kubernetes' C pause. Built static, packaged FROM
// scratch (images/pause/Dockerfile), so no image is ever pulled.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sigs {
		switch s {
		case syscall.SIGCHLD:
			for {
				var ws syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
		default:
			os.Exit(0)
		}
	}
}
