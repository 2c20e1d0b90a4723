#!/bin/sh
# reload.sh PIDFILE SECONDS DIR...: the reloader container of the NATS pod.
#
# nats-server reads its files (nats.conf and what it includes, the users' passwords from
# the Secrets nats-<role>, in prod its TLS certificates) when it starts and when it is told
# to reload, never by itself. A certificate cert-manager renews in its Secret, or a
# password rotated in one, reaches the pod's files within a minute or so and would sit
# there unused: the server would go on showing the old certificate until it expired and
# every client's connection failed. So every SECONDS this compares the contents of the
# files under each DIR with what it saw last, and on a change tells the server to reload
# (`nats-server --signal reload=PIDFILE`: SIGHUP to the pid in the file; the pod shares
# its process namespace for that). Clients keep their connections. A configuration the
# server refuses leaves it running on the old one and says why in its log.
set -u
pidfile=$1
every=$2
shift 2

# The contents of every file under the DIRs, in a fixed order. Kubernetes writes a Secret
# or ConfigMap volume as a directory of timestamped versions (..2026_..) and a ..data
# link to the current one: read the names the files are mounted under, through the links.
contents() {
	find "$@" -follow -type f ! -path '*/..*' 2>/dev/null | sort | xargs -r cat 2>/dev/null | md5sum
}

last=$(contents "$@")
echo "reloader: watching $* every ${every}s"
while :; do
	sleep "$every"
	now=$(contents "$@")
	[ "$now" = "$last" ] && continue
	if nats-server --signal "reload=$pidfile"; then
		echo "reloader: files changed under $*: nats-server told to reload"
		last=$now
	else
		echo "reloader: files changed under $*, but nats-server could not be signalled (pid file $pidfile); trying again" >&2
	fi
done
