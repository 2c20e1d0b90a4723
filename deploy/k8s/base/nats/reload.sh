#!/bin/sh
# reload.sh PIDFILE VARZ SECONDS DIR...: the reloader container of the NATS pod.
#
# nats-server reads its files (nats.conf and what it includes, the users' passwords from
# the Secrets nats-<role>, in prod its TLS certificates) when it starts and when it is told
# to reload, never by itself. A certificate cert-manager renews in its Secret, or a
# password rotated in one, reaches the pod's files within a minute or so and would sit
# there unused: the server would go on showing the old certificate until it expired and
# every client's connection failed. So every SECONDS this compares the contents of the
# files under each DIR with what the server last loaded, and on a change tells the server
# to reload (`nats-server --signal reload=PIDFILE`: SIGHUP to the pid in the file; the pod
# shares its process namespace for that). Clients keep their connections. Then it reads
# the server's config_load_time at VARZ (its monitoring endpoint, /varz): the server moves
# it when it has loaded the files, and leaves it when it refused them (its log says why,
# and the old configuration stays). A refused or unsignalled reload is said at every try
# and tried again until the files load. A change made while no reloader watched (this
# container restarted) is found by the files' times against config_load_time.
set -u
pidfile=$1
varz=$2
every=$3
shift 3

# The contents of every file under the DIRs, in a fixed order. Kubernetes writes a Secret
# or ConfigMap volume as a directory of timestamped versions (..2026_..) and a ..data
# link to the current one: read the names the files are mounted under, through the links.
contents() {
	find "$@" -follow -type f ! -path '*/..*' 2>/dev/null | sort | xargs -r cat 2>/dev/null | md5sum
}

# config_load_time of the server, empty when VARZ does not answer.
loaded() {
	wget -qO- "$varz" 2>/dev/null | sed -n 's/.*"config_load_time": *"\([^"]*\)".*/\1/p'
}

# config_load_time in seconds since the epoch, empty when VARZ does not answer.
loaded_at() {
	t=$(loaded)
	[ -n "$t" ] || return 0
	t=${t%%.*}
	t=${t%Z}
	date -u -d "${t%%T*} ${t#*T}" +%s 2>/dev/null
}

# The newest modification time of the files under the DIRs, in seconds since the epoch.
newest() {
	find "$@" -follow -type f ! -path '*/..*' 2>/dev/null | xargs -r stat -L -c %Y 2>/dev/null | sort -n | tail -n 1
}

last=$(contents "$@")
checked=
echo "reloader: watching $* every ${every}s"
while :; do
	sleep "$every"
	now=$(contents "$@")
	# Once the server answers: a file written after it loaded its files, while no
	# reloader watched (this container restarted between the kubelet's write and the
	# reload), is a change to load too.
	if [ -z "$checked" ] && at=$(loaded_at) && [ -n "$at" ]; then
		checked=1
		n=$(newest "$@")
		if [ -n "$n" ] && [ "$n" -gt "$at" ]; then
			echo "reloader: files under $* changed after nats-server loaded them, before this reloader watched"
			last=
		fi
	fi
	[ "$now" = "$last" ] && continue
	before=$(loaded)
	if ! nats-server --signal "reload=$pidfile"; then
		echo "reloader: files changed under $*, but nats-server could not be signalled (pid file $pidfile); trying again" >&2
		continue
	fi
	after=$before
	i=0
	while [ "$after" = "$before" ] && [ "$i" -lt 10 ]; do
		sleep 1
		after=$(loaded)
		i=$((i + 1))
	done
	if [ -z "$before" ] && [ -z "$after" ]; then
		echo "reloader: files changed under $*: nats-server told to reload (not confirmed: $varz does not answer)"
		last=$now
	elif [ -n "$after" ] && [ "$after" != "$before" ]; then
		echo "reloader: files changed under $*: nats-server reloaded them (config_load_time $after)"
		last=$now
	else
		echo "reloader: ERROR files changed under $*, and nats-server did not load them: it refused the new configuration (its log says why) and runs on the old one; trying again" >&2
	fi
done
