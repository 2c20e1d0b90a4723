// Package natscluster runs a real NATS cluster for tests: N (3 by default) nats-server
// processes with JetStream, routes to each other and an optional authorization block,
// each in a network namespace of its own so that a test can cut a node off the others
// for real (Partition, Isolate) and heal it, besides killing (SIGKILL), stopping and
// restarting it with the same store and address.
//
// The network, made with the ip command (root is needed):
//
//	root namespace            hub namespace             node namespaces
//	epfc<S>r 10.77.S.254 ---- uplink ─┐
//	                                  br0 ── n0 ----------- eth0 10.77.S.1  (node 0)
//	                                     ── n1 ----------- eth0 10.77.S.2  (node 1)
//	                                     ── n2 ----------- eth0 10.77.S.3  (node 2)
//
// S is a slot (1..250) a cluster holds with a lock file while it runs, so that clusters
// of parallel tests and of other processes get their own names and subnets. A slot whose
// lock is free but whose namespaces are left (a test process that was killed) is cleaned
// when a cluster takes it, and every such leftover at each Start. The only thing the
// root namespace gains is one veth with its /24; it goes with the hub namespace.
//
// Every node listens on its own address with the same ports (4222 clients, 6222 routes,
// 8222 monitoring), so a restarted node comes back where it was. The test process and
// the services it starts reach the nodes through the root veth, as clients.
//
// Partition(i) adds blackhole routes in both directions between node i and each other
// node: the routes between them break (detected within a few seconds, the cluster's
// ping interval is short), while clients connected to node i stay connected to a node
// that cannot reach the JetStream majority: their publishes to an R3 stream get no
// acknowledgement, as a client of a partitioned server sees in production. Isolate(i)
// takes node i's link down instead: its clients are cut off as well, and reconnect to
// the other nodes once their pings fail (nats.go pings every 2 minutes unless told
// otherwise: nats.PingInterval). Heal(i) undoes either.
package natscluster
