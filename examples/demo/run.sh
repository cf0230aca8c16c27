#!/bin/sh
# What the demo job runs: it reads the context's files from the image.
set -eu
echo "hello from the launch-agent demo job ($(uname -m), pod $(hostname))"
cat /demo/message.txt
echo "files in /demo:"
ls /demo
