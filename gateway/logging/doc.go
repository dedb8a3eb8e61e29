// Package logging builds the gateway's logger from the log section of its configuration.
//
// The access log writes one line per request. Written straight to a file or a pipe, each line
// is a system call, which under load costs more CPU than most edge functions. So the logger
// writes through a buffer: it is flushed every log.flush_interval, when it fills, after every
// record at level warn or above (so problems are never held back), and on Close. A
// log.flush_interval of 0 writes every record through at once.
package logging
