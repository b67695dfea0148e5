//! Go-style flags: classic Swarm (Go's `flag` package via codegangsta/cli)
//! accepted `-long-name` with a single dash. clap does not, so before parsing
//! we rewrite `-name[=v]` to `--name[=v]` when `name` is a long flag known
//! anywhere in the command tree. Anything after `--` is left alone.

use std::collections::HashSet;
use std::ffi::OsString;

fn long_names(cmd: &clap::Command, out: &mut HashSet<String>) {
    for arg in cmd.get_arguments() {
        if let Some(long) = arg.get_long() {
            out.insert(long.to_string());
        }
        if let Some(aliases) = arg.get_all_aliases() {
            out.extend(aliases.into_iter().map(str::to_string));
        }
    }
    for sub in cmd.get_subcommands() {
        long_names(sub, out);
    }
}

/// Rewrites single-dash long flags into double-dash ones.
pub fn normalize(args: Vec<OsString>, cmd: &clap::Command) -> Vec<OsString> {
    let mut names = HashSet::new();
    long_names(cmd, &mut names);
    names.insert("help".into());
    names.insert("version".into());
    let mut out = Vec::with_capacity(args.len());
    let mut passthrough = false;
    for (i, arg) in args.into_iter().enumerate() {
        if i == 0 || passthrough {
            out.push(arg);
            continue;
        }
        let Some(s) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if s == "--" {
            passthrough = true;
            out.push(arg);
            continue;
        }
        if let Some(rest) = s.strip_prefix('-') {
            if !rest.starts_with('-') && rest.len() > 1 {
                let name = rest.split('=').next().unwrap_or(rest);
                if names.contains(name) {
                    out.push(OsString::from(format!("-{s}")));
                    continue;
                }
            }
        }
        out.push(arg);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[arg(long)]
        engine_refresh_max_interval: Option<String>,
        #[arg(short = 'H', long)]
        host: Vec<String>,
        #[arg(long)]
        experimental: bool,
        rest: Vec<String>,
    }

    fn norm(args: &[&str]) -> Vec<String> {
        use clap::CommandFactory;
        let v = args.iter().map(OsString::from).collect();
        normalize(v, &T::command())
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn single_dash_long_flags_become_double_dash() {
        assert_eq!(
            norm(&[
                "shoal",
                "-experimental",
                "-engine-refresh-max-interval",
                "1s"
            ]),
            [
                "shoal",
                "--experimental",
                "--engine-refresh-max-interval",
                "1s"
            ]
        );
        assert_eq!(
            norm(&["shoal", "-host=tcp://x:1"]),
            ["shoal", "--host=tcp://x:1"]
        );
    }

    #[test]
    fn short_flags_unknown_words_and_passthrough_are_kept() {
        assert_eq!(norm(&["shoal", "-H", "x"]), ["shoal", "-H", "x"]);
        assert_eq!(norm(&["shoal", "-nosuch"]), ["shoal", "-nosuch"]);
        assert_eq!(norm(&["shoal", "--", "-host"]), ["shoal", "--", "-host"]);
    }
}
