//! A check of every Lua script Hail sends to Redis (src/server/lua): each key or channel a
//! script touches is either declared (`KEYS[n]`) or built by the dispatch library's `key`,
//! which names it under the region prefix taken from KEYS[1] and checks its hash tag. A key
//! built any other way (from ARGV, or by concatenating onto the prefix) could land in another
//! Cluster slot, where Redis refuses it in the middle of a script, after its earlier writes.

use std::collections::BTreeSet;
use std::path::Path;

/// Commands a script calls that name no key.
const KEYLESS: &[&str] = &["TIME"];

/// How each script reaches Redis: with the dispatch library prepended, or alone.
#[derive(Debug, PartialEq)]
enum Kind {
    Dispatch,
    Standalone,
}

/// What is wrong with `source`, one line per key or channel built outside the rules.
fn violations(source: &str) -> Vec<String> {
    let code = strip_comments(source);
    let mut problems = Vec::new();
    let derived = derived_names(&code);
    for (command, key) in calls(&code) {
        if KEYLESS.contains(&command.as_str()) {
            continue;
        }
        let Some(key) = key else {
            problems.push(format!("{command} without a key"));
            continue;
        };
        if !is_declared_or_derived(&key, &derived) {
            problems.push(format!(
                "{command} on `{key}`: not KEYS[n] nor built by key()"
            ));
        }
    }
    // The prefix is concatenated in one place only: `key`, which checks the tag.
    let prefix_uses = concatenations_of("P", &code);
    if code.contains("local P =") {
        if prefix_uses != 1 || !key_checks_the_tag(&code) {
            problems.push(
                "the region prefix is used outside key(), or key() does not check the tag".into(),
            );
        }
        if !code.contains("local DEADLINES = KEYS[1]")
            || !code.contains("local P = string.match(DEADLINES")
        {
            problems.push("the region prefix must come from KEYS[1]".into());
        }
    } else if prefix_uses > 0 {
        problems.push("a prefix is concatenated without key()".into());
    }
    problems
}

/// How often the variable `name` is concatenated onto (`name ..`), as a whole word.
fn concatenations_of(name: &str, code: &str) -> usize {
    code.match_indices(name)
        .filter(|(at, _)| {
            let before = code[..*at].chars().next_back();
            let after = code[at + name.len()..].trim_start();
            !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && after.starts_with("..")
        })
        .count()
}

fn strip_comments(source: &str) -> String {
    source
        .lines()
        .map(|line| match line.find("--") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `redis.call` / `redis.pcall`: its command (a literal, upper-cased, or the name of the
/// variable holding it) and its first argument after the command, as written.
fn calls(code: &str) -> Vec<(String, Option<String>)> {
    let mut found = Vec::new();
    for start in ["redis.call(", "redis.pcall("] {
        let mut rest = code;
        while let Some(at) = rest.find(start) {
            let args = &rest[at + start.len()..];
            let parts = top_level_args(args);
            let command = parts
                .first()
                .map(|c| {
                    c.trim()
                        .trim_matches('\'')
                        .trim_matches('"')
                        .to_ascii_uppercase()
                })
                .unwrap_or_default();
            found.push((command, parts.get(1).map(|k| k.trim().to_owned())));
            rest = args;
        }
    }
    found
}

/// The comma-separated arguments of a call whose opening parenthesis was just read, up to the
/// closing one; commas inside nested calls, tables and strings do not split.
fn top_level_args(args: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for c in args.chars() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            parts.last_mut().expect("one part at least").push(c);
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '(' | '{' | '[' => depth += 1,
            ')' | '}' | ']' if depth == 0 => break,
            ')' | '}' | ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(String::new());
                continue;
            }
            _ => {}
        }
        parts.last_mut().expect("one part at least").push(c);
    }
    parts
}

/// Names that hold a declared or `key()`-built name: locals assigned from one, and functions
/// that return one.
fn derived_names(code: &str) -> BTreeSet<String> {
    let mut derived: BTreeSet<String> = ["key".to_owned()].into();
    loop {
        let before = derived.len();
        for line in code.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("local function ") {
                let Some((name, body)) = rest.split_once('(') else {
                    continue;
                };
                if let Some(returned) = body.split_once(") return ").map(|(_, r)| r) {
                    let returned = returned.trim_end_matches("end").trim();
                    if is_declared_or_derived(returned, &derived) {
                        derived.insert(name.trim().to_owned());
                    }
                }
            } else if let Some(rest) = line.strip_prefix("local ") {
                let Some((name, value)) = rest.split_once(" = ") else {
                    continue;
                };
                let name = name.trim();
                if !name.contains(',') && is_declared_or_derived(value.trim(), &derived) {
                    derived.insert(name.to_owned());
                }
            }
        }
        if derived.len() == before {
            return derived;
        }
    }
}

fn is_declared_or_derived(expr: &str, derived: &BTreeSet<String>) -> bool {
    // Whatever the index (`KEYS[2]`, `KEYS[i]` in a loop), an element of KEYS is a declared key
    // or nil, never a name the caller did not declare.
    if let Some(index) = expr.strip_prefix("KEYS[").and_then(|r| r.strip_suffix(']')) {
        return !index.contains(['[', ']']);
    }
    let ident = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ident(expr) {
        return derived.contains(expr);
    }
    // A call of a derived function whose parentheses enclose the whole expression.
    let Some((name, args)) = expr.split_once('(') else {
        return false;
    };
    ident(name)
        && derived.contains(name)
        && args.ends_with(')')
        && top_level_args(args).join(",").len() + 1 == args.len()
}

fn key_checks_the_tag(code: &str) -> bool {
    let Some(at) = code.find("local function key(") else {
        return false;
    };
    let body = &code[at..];
    let body = &body[..body.find("\nend").unwrap_or(body.len())];
    body.contains("P ..") && body.contains("tag_of(name) ~= TAG") && body.contains("error(")
}

/// Every script and how it is sent, read from the sources that load them.
fn scripts() -> Vec<(String, Kind, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/server");
    let lib = std::fs::read_to_string(root.join("lua/dispatch_lib.lua")).expect("the library");
    let loaders: String = [
        "dispatch.rs",
        "ratelimit.rs",
        "accounts.rs",
        "demo.rs",
        "sockets.rs",
    ]
    .iter()
    .map(|file| std::fs::read_to_string(root.join(file)).expect("a loader"))
    .collect();
    let mut scripts = Vec::new();
    for entry in std::fs::read_dir(root.join("lua")).expect("src/server/lua") {
        let path = entry.expect("a directory entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "dispatch_lib.lua" {
            continue;
        }
        let body = std::fs::read_to_string(&path).expect("a script");
        let include = format!("include_str!(\"lua/{name}\")");
        let kind = if loaders.contains(&format!("script({include})")) {
            Kind::Dispatch
        } else if loaders.contains(&format!("Script::new({include})")) {
            Kind::Standalone
        } else {
            panic!("{name} is loaded by no known loader: add it to this check");
        };
        let source = match kind {
            Kind::Dispatch => format!("{lib}\n{body}"),
            Kind::Standalone => body,
        };
        scripts.push((name, kind, source));
    }
    scripts
}

#[test]
fn every_script_names_its_keys_by_declaration_or_by_key() {
    let scripts = scripts();
    assert!(scripts.len() >= 13, "found only {} scripts", scripts.len());
    for (name, _, source) in &scripts {
        let problems = violations(source);
        assert!(problems.is_empty(), "{name}: {problems:#?}");
    }
}

#[test]
fn no_script_is_written_inline_where_this_check_cannot_see_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("lua_lint.rs")
            {
                let text = std::fs::read_to_string(&path).unwrap();
                for (at, _) in text.match_indices("Script::new(") {
                    let after = &text[at + "Script::new(".len()..];
                    assert!(
                        after.starts_with("include_str!(\"lua/")
                            || after.starts_with("&format!(\"{LIB}"),
                        "{}: a script not in src/server/lua",
                        path.display()
                    );
                }
            }
        }
    }
}

#[test]
fn the_check_catches_keys_built_from_arguments() {
    let lib = include_str!("lua/dispatch_lib.lua");
    for bad in [
        "redis.call('GET', P .. ARGV[6])",
        "redis.call('GET', 'hail:' .. ARGV[6])",
        "redis.call('HSET', ARGV[6], 'a', 1)",
        "local k = ARGV[6]\nredis.call('DEL', k)",
        "local function sneaky(id) return 'x:' .. id end\nredis.call('DEL', sneaky(ARGV[6]))",
        "redis.call(PUB, 'hail:user:' .. ARGV[6], 'hi')",
        "redis.call('SET', ride_key(ARGV[6]) .. ':copy', 1)",
        "redis.call('HGET', KEYS[1] .. ARGV[1], 'f')",
    ] {
        assert!(
            !violations(&format!("{lib}\n{bad}")).is_empty(),
            "not caught: {bad}"
        );
    }
    for good in [
        "redis.call('GET', KEYS[2])",
        "redis.call('DEL', key('x:' .. ARGV[6]))",
        "local rk = ride_key(ARGV[6])\nredis.call('HGET', rk, 'status')",
        "redis.call(PUB, user_channel(ARGV[6]), 'hi')",
        "local t = redis.call('TIME')",
        "for i = 2, #KEYS do redis.call('HGET', KEYS[i], 'f') end",
    ] {
        let problems = violations(&format!("{lib}\n{good}"));
        assert!(problems.is_empty(), "{good}: {problems:?}");
    }
    // Outside the library there is no `key`: only declared keys pass.
    assert!(violations("redis.call('INCR', KEYS[1])").is_empty());
    assert!(!violations("redis.call('INCR', 'counter')").is_empty());
}
