// Package remedy writes Postfix table source files safely, so that a fix can
// run unattended (from a Nagios event handler at 3 a.m.) without ever losing
// an entry or leaving a half-written file. Running postmap(1) and "postfix
// reload" afterwards is lib/postfix's job.
//
// What it does:
//   - [Update] replaces a table file atomically under an exclusive lock:
//     the path resolved once through the file system, directories and
//     symlinks that another user could change refused, non-regular and
//     hard-linked targets refused, content re-read under the lock, temp file
//     in the same directory, fsync, a check just before the rename that no
//     program changed the table meanwhile, rename, owner and mode kept,
//     directory fsynced, optional backup;
//   - [Write] writes a corrected copy elsewhere (a new regular file, or a
//     regular file replaced under the same rules), never a device or a link;
//   - [Diff] renders a unified diff of two versions of a table, so that a dry
//     run or a log can show what a fix changes.
//
// The errors a caller may branch on: [*ChangedError] (another program wrote
// the table without the lock: nothing written, try again), [*UntrustedError]
// (a directory or link another user could change: the hint says what to
// chmod), [*NotRegularError] (a device, a pipe, a directory) and
// [*HardLinkError] (consent needed: Options.BreakLinks).
//
// What it does not do: decide what the new content is (the caller passes a
// pure edit function), parse tables, know anything of certificates or SMTP,
// create a table that does not exist (Update; Write does), keep extended
// attributes or ACLs, or remove its lock files (removing a lock file races
// with the next locker). It is meant for Linux: the read lease that tells
// it another program has the table open for writing is Linux's F_SETLEASE.
package remedy
