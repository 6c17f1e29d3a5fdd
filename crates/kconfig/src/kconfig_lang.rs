//! A reader for the Kconfig language: just enough of it to say why a requested value did not
//! stick. From the top file it follows `source` statements and collects, per symbol, its type, its
//! prompts, its dependencies (its own `depends on` and those of every enclosing `if`, `menu` and
//! `choice`), its defaults and ranges, and which symbols `select` it. Help texts, comments and
//! the menu structure are read past.
//!
//! No IO: files come through a function, so tests feed strings and [`KconfigTree::load`] reads
//! the disk. The reader is lenient where kconfig is strict: a line it does not understand becomes
//! a warning, not a failure, because a partial tree still explains most mismatches. Only what
//! would make every answer wrong fails: a `source`d file that is missing or whose path names a
//! variable nobody gave (the kernel's `arch/$(SRCARCH)/Kconfig`).

use std::{collections::HashMap, fmt, io, path::Path};

/// A value's type, as its `config` entry declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Type {
    Bool,
    Tristate,
    String,
    Int,
    Hex,
}

impl Type {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Type::Bool => "bool",
            Type::Tristate => "tristate",
            Type::String => "string",
            Type::Int => "int",
            Type::Hex => "hex",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// A Kconfig expression. Comparisons only ever hold leaves (`Sym`, `Str`, `Unknown`), as in
/// kconfig's grammar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Expr {
    /// a symbol, or a bare constant word (`y`, `n`, `m`, a number)
    Sym(String),
    /// a quoted constant
    Str(String),
    /// a macro this reader does not run (`$(success,...)`, `$(cc-option,...)`): value unknown
    Unknown(String),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
}

impl Expr {
    fn is_leaf(&self) -> bool {
        matches!(self, Expr::Sym(_) | Expr::Str(_) | Expr::Unknown(_))
    }

    /// The operands of a chain of `&&`, in order.
    pub(crate) fn conjuncts(&self) -> Vec<&Expr> {
        match self {
            Expr::And(a, b) => {
                let mut all = a.conjuncts();
                all.extend(b.conjuncts());
                all
            }
            other => vec![other],
        }
    }

    /// `a && b && ...` of `parts` (none: `None`, which means "always").
    pub(crate) fn all(parts: impl IntoIterator<Item = Expr>) -> Option<Expr> {
        parts.into_iter().reduce(|a, b| Expr::And(Box::new(a), Box::new(b)))
    }

    pub(crate) fn any(parts: impl IntoIterator<Item = Expr>) -> Option<Expr> {
        parts.into_iter().reduce(|a, b| Expr::Or(Box::new(a), Box::new(b)))
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Sym(name) | Expr::Unknown(name) => f.write_str(name),
            Expr::Str(text) => write!(f, "\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\"")),
            Expr::Not(inner) if inner.is_leaf() => write!(f, "!{inner}"),
            Expr::Not(inner) => write!(f, "!({inner})"),
            Expr::And(a, b) => {
                // `||` binds looser than `&&`, so an `||` operand needs its parentheses back
                for (i, side) in [a, b].into_iter().enumerate() {
                    if i == 1 {
                        f.write_str(" && ")?;
                    }
                    match **side {
                        Expr::Or(..) => write!(f, "({side})")?,
                        _ => write!(f, "{side}")?,
                    }
                }
                Ok(())
            }
            Expr::Or(a, b) => write!(f, "{a} || {b}"),
            Expr::Cmp(op, a, b) => write!(f, "{a} {} {b}", op.as_str()),
        }
    }
}

/// One `config` (or `menuconfig`) entry for a symbol; a symbol may have several.
#[derive(Clone, Debug, Default)]
pub(crate) struct Definition {
    /// each prompt's `if` condition (`None`: always shown)
    pub(crate) prompts: Vec<Option<Expr>>,
    /// the enclosing `if`s, `menu`s and `choice`'s dependencies, then the entry's own
    pub(crate) deps: Vec<Expr>,
    /// the enclosing menus' `visible if`: they hide the prompt but keep the value
    pub(crate) visible: Vec<Expr>,
    pub(crate) defaults: Vec<(Expr, Option<Expr>)>,
    pub(crate) ranges: Vec<(Expr, Expr, Option<Expr>)>,
    /// the index of the `choice` this entry is an option of
    pub(crate) choice: Option<usize>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Symbol {
    /// the first type any definition gave (kconfig warns when they differ)
    pub(crate) ty: Option<Type>,
    pub(crate) defs: Vec<Definition>,
}

/// `select TARGET if cond` in the entry of `by`.
#[derive(Clone, Debug)]
pub(crate) struct Select {
    pub(crate) by: String,
    pub(crate) cond: Option<Expr>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Choice {
    pub(crate) prompt: Option<String>,
    pub(crate) members: Vec<String>,
    pub(crate) optional: bool,
}

/// What a tree's Kconfig files say about its symbols.
#[derive(Debug, Default)]
pub struct KconfigTree {
    pub(crate) symbols: HashMap<String, Symbol>,
    /// keyed by the selected symbol, which need not be defined
    pub(crate) selected_by: HashMap<String, Vec<Select>>,
    pub(crate) choices: Vec<Choice>,
    /// the symbol marked `modules` (the kernel's MODULES): while it is off, `m` counts as `n`
    pub(crate) modules: Option<String>,
    files: usize,
    warnings: Vec<String>,
}

/// The variables the kernel's Kconfig files read for `make ARCH=arch`: ARCH, and SRCARCH, the
/// folder under `arch/` that the kernel's Makefile derives from it (`x86_64` → `x86`).
pub fn kernel_vars(arch: &str) -> [(&'static str, &str); 2] {
    let srcarch = match arch {
        // the kernel's own ARCH names (its Makefile), not rows of the table: tidy: allow
        "i386" | "x86_64" => "x86", // tidy: allow
        "sparc32" | "sparc64" => "sparc",
        "parisc64" => "parisc",
        other => other,
    };
    [("ARCH", arch), ("SRCARCH", srcarch)]
}

/// Why a tree could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LoadError {}

impl KconfigTree {
    /// Reads the tree whose top file is `top` (the kernel's `Kconfig`, BusyBox's `Config.in`).
    /// A path is looked up in each of `roots` in turn, as kconfig looks in the build folder before
    /// the source: BusyBox generates most of its `Config.in` files into the build folder, so give
    /// `[build, source]`. `vars` are the variables kconfig takes from the environment, for the
    /// `$(SRCARCH)` in `source "arch/$(SRCARCH)/Kconfig"`.
    pub fn load(
        roots: &[&Path],
        top: &str,
        vars: &[(&str, &str)],
    ) -> Result<KconfigTree, LoadError> {
        KconfigTree::parse(top, vars, |relative| {
            for root in roots {
                match std::fs::read(root.join(relative)) {
                    // help texts are not all UTF-8, and nothing read here depends on them
                    Ok(bytes) => return Ok(String::from_utf8_lossy(&bytes).into_owned()),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
            }
            let looked: Vec<String> = roots.iter().map(|root| root.display().to_string()).collect();
            Err(io::Error::new(io::ErrorKind::NotFound, format!("not in {}", looked.join(" nor "))))
        })
    }

    /// Reads the tree through `read`, which gets a path relative to the tree's root and answers
    /// `NotFound` for a missing file.
    pub fn parse(
        top: &str,
        vars: &[(&str, &str)],
        mut read: impl FnMut(&str) -> io::Result<String>,
    ) -> Result<KconfigTree, LoadError> {
        let mut reader = Reader {
            read: &mut read,
            env: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            assigned: HashMap::new(),
            tree: KconfigTree::default(),
            frames: Vec::new(),
            entry: Entry::None,
            open: Vec::new(),
        };
        reader.file(top, None, false)?;
        Ok(reader.tree)
    }

    /// Lines the reader did not understand, as `file:line: what`. Each one may hide a dependency.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// How many Kconfig files were read.
    pub fn files_read(&self) -> usize {
        self.files
    }

    /// Whether `name` (without `CONFIG_`) has a `config` entry in this tree.
    pub fn defines(&self, name: &str) -> bool {
        self.symbols.contains_key(name)
    }

    /// How many symbols have a `config` entry.
    pub fn symbol_count(&self) -> usize {
        self.symbols.len()
    }
}

#[derive(Debug)]
enum Frame {
    If(Expr),
    Menu { deps: Vec<Expr>, visible: Vec<Expr> },
    Choice { id: usize, deps: Vec<Expr> },
}

/// The entry that attribute lines (`depends on`, `default`, ...) belong to.
#[derive(Debug)]
enum Entry {
    None,
    Config { name: String, def: usize },
    Choice(usize),
    Menu,
    Comment,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Str(String),
    And,
    Or,
    Not,
    Cmp(CmpOp),
    Open,
    Close,
}

impl Tok {
    fn is_word(&self, word: &str) -> bool {
        matches!(self, Tok::Word(w) if w == word)
    }
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Word(w) => f.write_str(w),
            Tok::Str(s) => write!(f, "\"{s}\""),
            Tok::And => f.write_str("&&"),
            Tok::Or => f.write_str("||"),
            Tok::Not => f.write_str("!"),
            Tok::Cmp(op) => f.write_str(op.as_str()),
            Tok::Open => f.write_str("("),
            Tok::Close => f.write_str(")"),
        }
    }
}

/// What a line asks of the file loop, beyond what the reader did with it.
enum Next {
    Line,
    Help,
    Source {
        path: String,
        optional: bool,
    },
    /// a `source` that cannot be followed: the tree would be read without part of itself
    Fail(String),
}

struct Reader<'r> {
    read: &'r mut dyn FnMut(&str) -> io::Result<String>,
    /// the caller's variables, kconfig's environment
    env: HashMap<String, String>,
    /// `NAME := value` and `NAME = value` in the Kconfig files, unexpanded
    assigned: HashMap<String, String>,
    tree: KconfigTree,
    frames: Vec<Frame>,
    entry: Entry,
    /// the files being read, innermost last: a `source` of one of them would never end
    open: Vec<String>,
}

impl Reader<'_> {
    /// Reads `path` and whatever it sources. A missing `optional` file (`osource`) is no error.
    fn file(
        &mut self,
        path: &str,
        from: Option<(&str, usize)>,
        optional: bool,
    ) -> Result<(), LoadError> {
        let at = match from {
            Some((file, line)) => format!("{file}:{line}: "),
            None => String::new(),
        };
        if self.open.iter().any(|open| open == path) {
            return Err(LoadError { message: format!("{at}`{path}` sources itself") });
        }
        let text = match (self.read)(path) {
            Ok(text) => text,
            Err(e) if optional && e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(LoadError { message: format!("{at}cannot read {path}: {e}") }),
        };
        self.tree.files += 1;
        self.open.push(path.to_string());
        let depth = self.frames.len();

        let lines: Vec<&str> = text.lines().collect();
        let mut help: Option<Help> = None;
        let mut i = 0;
        while i < lines.len() {
            let number = i + 1;
            let first = lines[i];
            i += 1;
            if let Some(h) = &mut help {
                if h.swallows(first) {
                    continue;
                }
                help = None;
            }
            let mut line = first.to_string();
            while line.ends_with('\\') && i < lines.len() {
                line.pop();
                line.push_str(lines[i]);
                i += 1;
            }
            match self.line(&line, path) {
                Ok(Next::Line) => {}
                Ok(Next::Help) => help = Some(Help { first: None }),
                Ok(Next::Source { path: target, optional }) => {
                    self.file(&target, Some((path, number)), optional)?;
                    // attributes after a `source` would belong to whatever the sourced file ended with
                    self.entry = Entry::None;
                }
                Ok(Next::Fail(message)) => {
                    return Err(LoadError { message: format!("{path}:{number}: {message}") })
                }
                Err(message) => self.warn(path, number, message),
            }
        }

        if self.frames.len() > depth {
            self.warn(path, lines.len(), "an `if`, `menu` or `choice` is not closed".into());
            self.frames.truncate(depth);
        }
        self.entry = Entry::None;
        self.open.pop();
        Ok(())
    }

    fn warn(&mut self, file: &str, line: usize, message: String) {
        self.tree.warnings.push(format!("{file}:{line}: {message}"));
    }

    fn line(&mut self, line: &str, file: &str) -> Result<Next, String> {
        let trimmed = line.trim();
        // a top-level macro call: `$(error-if,...)` checks the toolchain, nothing to collect
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("$(") {
            return Ok(Next::Line);
        }
        if let Some((name, op, value)) = assignment(trimmed) {
            let value = match op {
                "+=" => format!("{} {value}", self.assigned.get(name).map_or("", |v| v.as_str())),
                // `:=` expands once, now; what cannot be expanded stays as written, unknown later
                ":=" => self.expand(value).unwrap_or_else(|| value.to_string()),
                _ => value.to_string(),
            };
            self.assigned.insert(name.to_string(), value);
            return Ok(Next::Line);
        }
        let tokens = lex(line)?;
        let Some((Tok::Word(keyword), args)) = tokens.split_first() else {
            return Err(format!("expected a keyword, got `{trimmed}`"));
        };
        match keyword.as_str() {
            "config" | "menuconfig" => {
                let [Tok::Word(name)] = args else {
                    return Err(format!("`{keyword}` wants one symbol name"));
                };
                self.define(name);
            }
            "choice" => {
                let id = self.tree.choices.len();
                self.tree.choices.push(Choice::default());
                self.frames.push(Frame::Choice { id, deps: Vec::new() });
                self.entry = Entry::Choice(id);
            }
            "endchoice" => self.close(keyword, |f| matches!(f, Frame::Choice { .. }))?,
            "menu" => {
                self.frames.push(Frame::Menu { deps: Vec::new(), visible: Vec::new() });
                self.entry = Entry::Menu;
            }
            "endmenu" => self.close(keyword, |f| matches!(f, Frame::Menu { .. }))?,
            "if" => {
                let cond = self.expr_only(args)?;
                self.frames.push(Frame::If(cond));
                self.entry = Entry::None;
            }
            "endif" => self.close(keyword, |f| matches!(f, Frame::If(_)))?,
            "comment" => self.entry = Entry::Comment,
            "mainmenu" => self.entry = Entry::None,
            "source" | "rsource" | "osource" | "orsource" => {
                let raw = match args {
                    [Tok::Str(path)] | [Tok::Word(path)] => path,
                    _ => return Err(format!("`{keyword}` wants one path")),
                };
                let Some(expanded) = self.expand(raw) else {
                    return Ok(Next::Fail(format!("cannot expand `{raw}`: pass its variables")));
                };
                if expanded.contains(['*', '?']) {
                    return Err(format!("wildcards in `{keyword} {raw}` are not followed"));
                }
                let path = if keyword.starts_with('r') || keyword.starts_with("or") {
                    let dir = file.rsplit_once('/').map_or("", |(dir, _)| dir);
                    normalize(&format!("{dir}/{expanded}"))
                } else {
                    normalize(&expanded)
                };
                return Ok(Next::Source { path, optional: keyword.starts_with('o') });
            }
            "help" | "---help---" => return Ok(Next::Help),
            _ => self.attribute(keyword, args)?,
        }
        Ok(Next::Line)
    }

    fn define(&mut self, name: &str) {
        let mut def = Definition::default();
        for frame in &self.frames {
            match frame {
                Frame::If(cond) => def.deps.push(cond.clone()),
                Frame::Menu { deps, visible } => {
                    def.deps.extend(deps.iter().cloned());
                    def.visible.extend(visible.iter().cloned());
                }
                Frame::Choice { deps, .. } => def.deps.extend(deps.iter().cloned()),
            }
        }
        // an `if` inside a choice is transparent; a menu inside one is not allowed
        def.choice = self
            .frames
            .iter()
            .rev()
            .find_map(|frame| match frame {
                Frame::If(_) => None,
                Frame::Menu { .. } => Some(None),
                Frame::Choice { id, .. } => Some(Some(*id)),
            })
            .flatten();
        if let Some(id) = def.choice {
            let members = &mut self.tree.choices[id].members;
            if !members.iter().any(|m| m == name) {
                members.push(name.to_string());
            }
        }
        let symbol = self.tree.symbols.entry(name.to_string()).or_default();
        symbol.defs.push(def);
        self.entry = Entry::Config { name: name.to_string(), def: symbol.defs.len() - 1 };
    }

    fn close(&mut self, keyword: &str, opens: impl Fn(&Frame) -> bool) -> Result<(), String> {
        self.entry = Entry::None;
        match self.frames.last() {
            Some(frame) if opens(frame) => {
                self.frames.pop();
                Ok(())
            }
            _ => Err(format!("`{keyword}` closes nothing open")),
        }
    }

    fn attribute(&mut self, keyword: &str, args: &[Tok]) -> Result<(), String> {
        let ty = match keyword {
            "bool" | "boolean" | "def_bool" => Some(Type::Bool),
            "tristate" | "def_tristate" => Some(Type::Tristate),
            "string" => Some(Type::String),
            "int" => Some(Type::Int),
            "hex" => Some(Type::Hex),
            _ => None,
        };
        match keyword {
            "bool" | "boolean" | "tristate" | "string" | "int" | "hex" | "prompt" => {
                let (prompt, rest) = match args.split_first() {
                    Some((Tok::Str(text), rest)) => (Some(text.clone()), rest),
                    _ if keyword == "prompt" => return Err("`prompt` wants a quoted text".into()),
                    _ => (None, args),
                };
                let cond = match rest.split_first() {
                    None => None,
                    Some((t, cond)) if t.is_word("if") => Some(self.expr_only(cond)?),
                    Some((t, _)) => return Err(format!("unexpected `{t}` after `{keyword}`")),
                };
                if let Some(ty) = ty {
                    self.set_type(ty);
                }
                if let Some(text) = prompt {
                    match &self.entry {
                        Entry::Config { .. } => self.def()?.prompts.push(cond),
                        Entry::Choice(id) => self.tree.choices[*id].prompt = Some(text),
                        // a menu's or comment's text is on its first line
                        _ => return Err(format!("`{keyword}` outside a config or choice")),
                    }
                }
            }
            "def_bool" | "def_tristate" | "default" => {
                let (value, cond) = self.expr_and_cond(args)?;
                if let Some(ty) = ty {
                    self.set_type(ty);
                }
                // a choice's default names its default option; nothing here needs it
                if let Entry::Config { .. } = self.entry {
                    self.def()?.defaults.push((value, cond));
                }
            }
            "depends" => {
                let args = match args.split_first() {
                    Some((on, rest)) if on.is_word("on") => rest,
                    _ => args,
                };
                let dep = self.expr_only(args)?;
                match &self.entry {
                    Entry::Config { .. } => self.def()?.deps.push(dep),
                    Entry::Choice(_) | Entry::Menu => match self.frames.last_mut() {
                        Some(Frame::Choice { deps, .. } | Frame::Menu { deps, .. }) => {
                            deps.push(dep)
                        }
                        _ => return Err("`depends on` outside its entry".into()),
                    },
                    // a comment's dependency only hides the comment
                    Entry::Comment => {}
                    Entry::None => return Err("`depends on` outside an entry".into()),
                }
            }
            "visible" => {
                let cond = match args.split_first() {
                    Some((t, cond)) if t.is_word("if") => self.expr_only(cond)?,
                    _ => return Err("`visible` wants `if`".into()),
                };
                match (&self.entry, self.frames.last_mut()) {
                    (Entry::Menu, Some(Frame::Menu { visible, .. })) => visible.push(cond),
                    _ => return Err("`visible if` outside a menu".into()),
                }
            }
            "select" | "imply" => {
                let Some((Tok::Word(target), rest)) = args.split_first() else {
                    return Err(format!("`{keyword}` wants a symbol"));
                };
                let cond = match rest.split_first() {
                    None => None,
                    Some((t, cond)) if t.is_word("if") => Some(self.expr_only(cond)?),
                    Some((t, _)) => return Err(format!("unexpected `{t}` after `{keyword}`")),
                };
                let Entry::Config { name, .. } = &self.entry else {
                    return Err(format!("`{keyword}` outside a config"));
                };
                // `imply` only sets a default a fragment may override, so it explains nothing
                if keyword == "select" {
                    let select = Select { by: name.clone(), cond };
                    self.tree.selected_by.entry(target.clone()).or_default().push(select);
                }
            }
            "range" => {
                let mut parser = ExprParser { toks: args, pos: 0, reader: self };
                let low = parser.operand()?;
                let high = parser.operand()?;
                let cond = parser.trailing_cond()?;
                self.def()?.ranges.push((low, high, cond));
            }
            // `modules` in today's kernel, `option modules` before 5.x
            "modules" => self.mark_modules()?,
            "option" => {
                if args.first().is_some_and(|t| t.is_word("modules")) {
                    self.mark_modules()?;
                }
            }
            "optional" => match self.entry {
                Entry::Choice(id) => self.tree.choices[id].optional = true,
                _ => return Err("`optional` outside a choice".into()),
            },
            // flags that change no dependency
            "transitional" | "defconfig_list" | "allnoconfig_y" => {}
            other => return Err(format!("unknown keyword `{other}`")),
        }
        Ok(())
    }

    fn def(&mut self) -> Result<&mut Definition, String> {
        match &self.entry {
            Entry::Config { name, def } => {
                Ok(&mut self.tree.symbols.get_mut(name).expect("defined on entry").defs[*def])
            }
            _ => Err("attribute outside a config".into()),
        }
    }

    fn set_type(&mut self, ty: Type) {
        if let Entry::Config { name, .. } = &self.entry {
            let symbol = self.tree.symbols.get_mut(name).expect("defined on entry");
            symbol.ty.get_or_insert(ty);
        }
    }

    fn mark_modules(&mut self) -> Result<(), String> {
        match &self.entry {
            Entry::Config { name, .. } => {
                self.tree.modules = Some(name.clone());
                Ok(())
            }
            _ => Err("`modules` outside a config".into()),
        }
    }

    fn expr_only(&self, toks: &[Tok]) -> Result<Expr, String> {
        let mut parser = ExprParser { toks, pos: 0, reader: self };
        let expr = parser.or()?;
        match parser.toks.get(parser.pos) {
            None => Ok(expr),
            Some(t) => Err(format!("unexpected `{t}` in an expression")),
        }
    }

    fn expr_and_cond(&self, toks: &[Tok]) -> Result<(Expr, Option<Expr>), String> {
        let mut parser = ExprParser { toks, pos: 0, reader: self };
        let expr = parser.or()?;
        Ok((expr, parser.trailing_cond()?))
    }

    /// `text` with every `$(NAME)` replaced, or `None` when one is a function call
    /// (`$(shell,...)`, `$(cc-option,...)`) or a variable nobody set.
    fn expand(&self, text: &str) -> Option<String> {
        self.expand_depth(text, 0)
    }

    fn expand_depth(&self, text: &str, depth: usize) -> Option<String> {
        // `X = $(X)` would recurse for ever; kconfig refuses it too
        if depth > 32 {
            return None;
        }
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("$(") {
            out.push_str(&rest[..start]);
            let inner_start = start + 2;
            let end = inner_start + matching_paren(&rest[inner_start..])?;
            let inner = self.expand_depth(&rest[inner_start..end], depth + 1)?;
            if inner.contains(',') {
                return None;
            }
            let name = inner.trim();
            let value = match self.assigned.get(name) {
                Some(value) => self.expand_depth(value, depth + 1)?,
                None => self.env.get(name)?.clone(),
            };
            out.push_str(&value);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Some(out)
    }
}

/// Help text: every line indented at least as deep as its first line, blank lines included.
struct Help {
    first: Option<usize>,
}

impl Help {
    fn swallows(&mut self, line: &str) -> bool {
        if line.trim().is_empty() {
            return true;
        }
        let indent = line.chars().take_while(|c| *c == ' ' || *c == '\t').fold(0, |col, c| {
            if c == '\t' {
                (col & !7) + 8
            } else {
                col + 1
            }
        });
        match self.first {
            _ if indent == 0 => false,
            None => {
                self.first = Some(indent);
                true
            }
            Some(first) => indent >= first,
        }
    }
}

/// `NAME := value`, `NAME = value`, `NAME += value`: a variable, not an entry.
fn assignment(line: &str) -> Option<(&str, &'static str, &str)> {
    let name_len =
        line.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-').count();
    if name_len == 0 {
        return None;
    }
    let rest = line[name_len..].trim_start();
    let op = [":=", "+=", "="].into_iter().find(|op| rest.starts_with(op))?;
    Some((&line[..name_len], op, rest[op.len()..].trim()))
}

/// The offset of the `)` that closes an already opened `$(`.
fn matching_paren(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return Some(i),
            ')' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// `a/./b/../c` → `a/c`: the same file must get the same name however it was reached.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    parts.join("/")
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/' | b'+')
}

/// Splits a line into tokens, up to a `#` comment. Macros (`$(...)`) stay inside their word or
/// string, parentheses and commas included, as kconfig expands them before it splits.
fn lex(line: &str) -> Result<Vec<Tok>, String> {
    let bytes = line.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let next = bytes.get(i + 1).copied();
        let (token, len) = match (bytes[i], next) {
            (b' ' | b'\t' | b'\r', _) => {
                i += 1;
                continue;
            }
            (b'#', _) => break,
            (quote @ (b'"' | b'\''), _) => {
                let (text, len) = quoted(&line[i..], quote)?;
                (Tok::Str(text), len)
            }
            (b'&', Some(b'&')) => (Tok::And, 2),
            (b'|', Some(b'|')) => (Tok::Or, 2),
            (b'!', Some(b'=')) => (Tok::Cmp(CmpOp::Ne), 2),
            (b'!', _) => (Tok::Not, 1),
            (b'=', _) => (Tok::Cmp(CmpOp::Eq), 1),
            (b'<', Some(b'=')) => (Tok::Cmp(CmpOp::Le), 2),
            (b'<', _) => (Tok::Cmp(CmpOp::Lt), 1),
            (b'>', Some(b'=')) => (Tok::Cmp(CmpOp::Ge), 2),
            (b'>', _) => (Tok::Cmp(CmpOp::Gt), 1),
            (b'(', _) => (Tok::Open, 1),
            (b')', _) => (Tok::Close, 1),
            (b, _) if is_word_byte(b) || b == b'$' => {
                let mut end = i;
                while end < bytes.len() {
                    if bytes[end] == b'$' && bytes.get(end + 1) == Some(&b'(') {
                        let close = matching_paren(&line[end + 2..])
                            .ok_or("a `$(` is not closed".to_string())?;
                        end += 2 + close + 1;
                    } else if is_word_byte(bytes[end]) {
                        end += 1;
                    } else {
                        break;
                    }
                }
                if end == i {
                    return Err(format!("unexpected `$` in `{}`", line.trim()));
                }
                (Tok::Word(line[i..end].to_string()), end - i)
            }
            _ => {
                let c = line[i..].chars().next().unwrap_or('?');
                return Err(format!("unexpected `{c}` in `{}`", line.trim()));
            }
        };
        tokens.push(token);
        i += len;
    }
    Ok(tokens)
}

/// A quoted string at the start of `text`: its unescaped content and its length with quotes.
fn quoted(text: &str, quote: u8) -> Result<(String, usize), String> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                // the escaped character, whole even when it is not ASCII
                let escaped = text[i + 1..].chars().next();
                out.extend(escaped);
                i += 1 + escaped.map_or(0, char::len_utf8);
            }
            b'$' if bytes.get(i + 1) == Some(&b'(') => {
                // a macro's arguments may hold quotes of their own
                let close = matching_paren(&text[i + 2..]).ok_or("a `$(` is not closed")?;
                let end = i + 2 + close + 1;
                out.push_str(&text[i..end]);
                i = end;
            }
            b if b == quote => return Ok((out, i + 1)),
            _ => {
                let c = text[i..].chars().next().expect("i is on a char boundary");
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    Err("a quoted string is not closed".into())
}

struct ExprParser<'t, 'r> {
    toks: &'t [Tok],
    pos: usize,
    reader: &'t Reader<'r>,
}

impl ExprParser<'_, '_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        match self.peek() {
            Some(Tok::Not) => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.unary()?)))
            }
            Some(Tok::Open) => {
                self.pos += 1;
                let inner = self.or()?;
                match self.peek() {
                    Some(Tok::Close) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    _ => Err("a `(` is not closed".into()),
                }
            }
            _ => {
                let left = self.operand()?;
                match self.peek() {
                    Some(Tok::Cmp(op)) => {
                        let op = *op;
                        self.pos += 1;
                        Ok(Expr::Cmp(op, Box::new(left), Box::new(self.operand()?)))
                    }
                    _ => Ok(left),
                }
            }
        }
    }

    fn operand(&mut self) -> Result<Expr, String> {
        let expr = match self.peek() {
            Some(Tok::Word(word)) if word == "if" => {
                return Err("`if` where a symbol belongs".into())
            }
            Some(Tok::Word(word)) if word.contains("$(") => match self.reader.expand(word) {
                Some(value) => Expr::Sym(value),
                None => Expr::Unknown(word.clone()),
            },
            Some(Tok::Word(word)) => Expr::Sym(word.clone()),
            Some(Tok::Str(text)) if text.contains("$(") => match self.reader.expand(text) {
                Some(value) => Expr::Str(value),
                None => Expr::Unknown(format!("\"{text}\"")),
            },
            Some(Tok::Str(text)) => Expr::Str(text.clone()),
            Some(t) => return Err(format!("unexpected `{t}` where a symbol belongs")),
            None => return Err("an expression ends early".into()),
        };
        self.pos += 1;
        Ok(expr)
    }

    /// An optional `if cond` that must end the line.
    fn trailing_cond(&mut self) -> Result<Option<Expr>, String> {
        match self.peek() {
            None => Ok(None),
            Some(t) if t.is_word("if") => {
                self.pos += 1;
                let cond = self.or()?;
                match self.peek() {
                    None => Ok(Some(cond)),
                    Some(t) => Err(format!("unexpected `{t}` in an expression")),
                }
            }
            Some(t) => Err(format!("unexpected `{t}` in an expression")),
        }
    }
}

#[cfg(test)]
mod tests;
