//! Why a requested value did not stick: what the Kconfig files say about the symbol, evaluated
//! against the final `.config`. Each answer is a clause about the symbol ("it depends on ...")
//! meant to follow the mismatch it explains; `None` where the files do not tell.

use std::collections::BTreeMap;

use crate::{
    kconfig_lang::{CmpOp, Definition, Expr, KconfigTree, Symbol, Type},
    parse_number, Mismatch, Value,
};

/// A shown dependency longer than this is cut: the culprits before it say what matters.
const SHOWN_EXPR_MAX: usize = 100;
/// Lists of names (culprits, selecters) longer than this end in "and N more".
const SHOWN_NAMES_MAX: usize = 6;

/// kconfig's three-valued logic: `&&` is the minimum, `||` the maximum, `!` mirrors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Tri {
    N,
    M,
    Y,
}

impl Tri {
    fn not(self) -> Tri {
        match self {
            Tri::N => Tri::Y,
            Tri::M => Tri::M,
            Tri::Y => Tri::N,
        }
    }

    /// How a value reads in a sentence: "USB is off".
    fn word(self) -> &'static str {
        match self {
            Tri::N => "off",
            Tri::M => "m",
            Tri::Y => "y",
        }
    }
}

/// A leaf of an expression that gives it its value: a symbol that is off (`high: false`) where
/// it should be on, or on (`high: true`) where a `!` wants it off.
struct Culprit<'e> {
    leaf: &'e Expr,
    high: bool,
}

/// Expressions evaluated against a final `.config`.
struct Eval<'a> {
    tree: &'a KconfigTree,
    config: &'a BTreeMap<String, Value>,
}

impl Eval<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.config.get(&format!("CONFIG_{name}"))
    }

    fn tri(&self, name: &str) -> Tri {
        match name {
            "y" => Tri::Y,
            "n" => Tri::N,
            // kconfig reads `m` as `m && MODULES`
            "m" => match &self.tree.modules {
                Some(modules) if self.tri(modules) != Tri::Y => Tri::N,
                _ => Tri::M,
            },
            _ => match self.get(name) {
                Some(Value::Yes) => Tri::Y,
                Some(Value::Module) => Tri::M,
                _ => Tri::N,
            },
        }
    }

    /// The text kconfig compares for an operand; `None` for a macro it did not run.
    fn text(&self, operand: &Expr) -> Option<String> {
        match operand {
            Expr::Str(text) => Some(text.clone()),
            Expr::Sym(name) => Some(match self.get(name) {
                Some(Value::Yes) => "y".into(),
                Some(Value::Module) => "m".into(),
                Some(Value::No) => "n".into(),
                Some(Value::Number(n)) => n.clone(),
                Some(Value::Str(s)) => s.clone(),
                // not in .config: a hidden symbol is n, or empty if it holds a value; a word no
                // entry defines is a constant (`y`, a number)
                None => match self.tree.symbols.get(name).map(|s| s.ty) {
                    Some(Some(Type::Bool | Type::Tristate)) => "n".into(),
                    Some(_) => String::new(),
                    None => name.clone(),
                },
            }),
            _ => None,
        }
    }

    /// An operand as kconfig orders it: a bool or tristate as n < m < y, else a number if its
    /// text is one. `CRAMFS <= MTD` is about tristates.
    fn number(&self, operand: &Expr, text: &str) -> Option<i128> {
        let tristate = match operand {
            Expr::Sym(name) => match self.tree.symbols.get(name) {
                Some(symbol) => matches!(symbol.ty, Some(Type::Bool | Type::Tristate)),
                None => matches!(name.as_str(), "y" | "m" | "n"),
            },
            _ => false,
        };
        match (tristate, text) {
            (true, "n") => Some(0),
            (true, "m") => Some(1),
            (true, "y") => Some(2),
            _ => parse_number(text),
        }
    }

    /// The value of `e`. What this reader cannot evaluate (a macro) counts as whatever makes the
    /// whole expression true, `hopeful` tracking the `!`s above it, so it is never the culprit.
    fn eval(&self, e: &Expr, hopeful: bool) -> Tri {
        let unknown = if hopeful { Tri::Y } else { Tri::N };
        match e {
            Expr::Sym(name) => self.tri(name),
            Expr::Str(text) => self.tri(text),
            Expr::Unknown(_) => unknown,
            Expr::Not(inner) => self.eval(inner, !hopeful).not(),
            Expr::And(a, b) => self.eval(a, hopeful).min(self.eval(b, hopeful)),
            Expr::Or(a, b) => self.eval(a, hopeful).max(self.eval(b, hopeful)),
            Expr::Cmp(op, left, right) => {
                let (Some(a), Some(b)) = (self.text(left), self.text(right)) else {
                    return unknown;
                };
                let order = match (self.number(left, &a), self.number(right, &b)) {
                    (Some(a), Some(b)) => a.cmp(&b),
                    // kconfig orders only numbers; any two texts are equal or not
                    _ if matches!(op, CmpOp::Eq | CmpOp::Ne) => a.cmp(&b),
                    _ => return Tri::N,
                };
                let holds = match op {
                    CmpOp::Eq => order.is_eq(),
                    CmpOp::Ne => order.is_ne(),
                    CmpOp::Lt => order.is_lt(),
                    CmpOp::Le => order.is_le(),
                    CmpOp::Gt => order.is_gt(),
                    CmpOp::Ge => order.is_ge(),
                };
                if holds {
                    Tri::Y
                } else {
                    Tri::N
                }
            }
        }
    }

    /// The leaves that keep `e` below y.
    fn low<'e>(&self, e: &'e Expr, hopeful: bool, out: &mut Vec<Culprit<'e>>) {
        match e {
            // every operand below y must rise for the whole to be y
            Expr::And(a, b) => {
                for side in [a, b] {
                    if self.eval(side, hopeful) < Tri::Y {
                        self.low(side, hopeful, out);
                    }
                }
            }
            // any operand could lift it, so all of them are named
            Expr::Or(a, b) => {
                self.low(a, hopeful, out);
                self.low(b, hopeful, out);
            }
            Expr::Not(inner) => self.high(inner, !hopeful, out),
            leaf => push_culprit(out, Culprit { leaf, high: false }),
        }
    }

    /// The leaves that keep `e` above n.
    fn high<'e>(&self, e: &'e Expr, hopeful: bool, out: &mut Vec<Culprit<'e>>) {
        match e {
            Expr::And(a, b) => {
                self.high(a, hopeful, out);
                self.high(b, hopeful, out);
            }
            Expr::Or(a, b) => {
                for side in [a, b] {
                    if self.eval(side, hopeful) > Tri::N {
                        self.high(side, hopeful, out);
                    }
                }
            }
            Expr::Not(inner) => self.low(inner, !hopeful, out),
            leaf => push_culprit(out, Culprit { leaf, high: true }),
        }
    }

    fn culprits<'e>(&self, e: &'e Expr) -> Vec<Culprit<'e>> {
        let mut out = Vec::new();
        self.low(e, true, &mut out);
        out
    }

    /// "USB and SCSI, both off" when every culprit is a symbol of this tree with the same value,
    /// the plainest case and the commonest.
    fn together(&self, culprits: &[Culprit]) -> Option<String> {
        let mut names = Vec::new();
        let mut value = None;
        for culprit in culprits {
            let Expr::Sym(name) = culprit.leaf else { return None };
            let tri = self.tri(name);
            if culprit.high
                || !self.tree.symbols.contains_key(name)
                || value.is_some_and(|v| v != tri)
            {
                return None;
            }
            value = Some(tri);
            names.push(name.as_str());
        }
        let word = value?.word();
        let quantifier = match names.len() {
            1 => format!("which is {word}"),
            2 => format!("both {word}"),
            _ => format!("all {word}"),
        };
        Some(format!("{}, {quantifier}", list(&names)))
    }

    /// Each culprit with its value: "ARM is undefined here and X86_32 is y".
    fn one_by_one(&self, culprits: &[Culprit]) -> String {
        let described: Vec<String> = culprits.iter().map(|c| self.describe(c)).collect();
        let described: Vec<&str> = described.iter().map(String::as_str).collect();
        list(&described)
    }

    fn describe(&self, culprit: &Culprit) -> String {
        match culprit.leaf {
            Expr::Sym(name) if matches!(name.as_str(), "y" | "m" | "n") => {
                match &self.tree.modules {
                    Some(modules) if name == "m" && self.tri(name) == Tri::N => {
                        format!("`m` needs {modules}, which is off")
                    }
                    _ => format!("`{name}`"),
                }
            }
            Expr::Sym(name) if !self.tree.symbols.contains_key(name) => {
                format!("{name} is undefined here")
            }
            Expr::Sym(name) => format!("{name} is {}", self.tri(name).word()),
            Expr::Cmp(_, a, b) => {
                let truth = if culprit.high { "true" } else { "false" };
                let values: Vec<String> = [a, b]
                    .into_iter()
                    .filter_map(|side| match &**side {
                        Expr::Sym(name) if self.tree.symbols.contains_key(name) => {
                            Some(format!("{name} being {}", shown_text(&self.text(side)?)))
                        }
                        _ => None,
                    })
                    .collect();
                match values.is_empty() {
                    true => format!("`{}` is {truth}", culprit.leaf),
                    false => format!("`{}` is {truth}, {}", culprit.leaf, values.join(", ")),
                }
            }
            other => format!("`{other}`"),
        }
    }
}

fn push_culprit<'e>(out: &mut Vec<Culprit<'e>>, culprit: Culprit<'e>) {
    if !out.iter().any(|c| c.leaf == culprit.leaf && c.high == culprit.high) {
        out.push(culprit);
    }
}

fn shown_text(text: &str) -> String {
    match text {
        "" => "empty".into(),
        "n" => "off".into(),
        text => text.into(),
    }
}

/// "A", "A and B", "A, B and C", "A, B, C, D, E, F and 3 more".
fn list(items: &[&str]) -> String {
    let (shown, more) = if items.len() > SHOWN_NAMES_MAX {
        (&items[..SHOWN_NAMES_MAX], items.len() - SHOWN_NAMES_MAX)
    } else {
        (items, 0)
    };
    match (shown, more) {
        ([], _) => String::new(),
        ([one], 0) => one.to_string(),
        ([init @ .., last], 0) => format!("{} and {last}", init.join(", ")),
        (all, more) => format!("{} and {more} more", all.join(", ")),
    }
}

/// `expr` as text, cut after an operator when long: the dependencies of a deeply nested driver
/// run to hundreds of characters, and the culprits already say what is off.
fn shown(expr: &Expr) -> String {
    let text = expr.to_string();
    if text.len() <= SHOWN_EXPR_MAX {
        return text;
    }
    let head = &text[..text.floor_char_boundary(SHOWN_EXPR_MAX)];
    let cut = [" && ", " || "]
        .iter()
        .filter_map(|op| head.rfind(op).map(|at| at + op.len()))
        .max()
        .unwrap_or(head.len());
    format!("{}...", &text[..cut])
}

/// The symbol's dependencies over all its definitions: each definition's enclosing and own
/// dependencies, repeats dropped (`if USB` around `depends on USB`), and the definitions or'ed as
/// kconfig does. `None`: some definition has none, so they are always met.
fn dependencies(symbol: &Symbol) -> Option<Expr> {
    let mut alternatives: Vec<Expr> = Vec::new();
    for def in &symbol.defs {
        let mut conjuncts: Vec<&Expr> = Vec::new();
        for conjunct in def.deps.iter().flat_map(Expr::conjuncts) {
            if !conjuncts.contains(&conjunct) {
                conjuncts.push(conjunct);
            }
        }
        let all = Expr::all(conjuncts.into_iter().cloned())?;
        if !alternatives.contains(&all) {
            alternatives.push(all);
        }
    }
    Expr::any(alternatives)
}

/// When a definition's prompt shows: its own dependencies (another definition's may be the ones
/// that are met), one of its prompts' conditions, and every enclosing menu's `visible if`.
/// `None` inside: always.
fn prompt_condition(def: &Definition) -> Option<Expr> {
    let prompt = if def.prompts.iter().any(Option::is_none) {
        None
    } else {
        Expr::any(def.prompts.iter().flatten().cloned())
    };
    let mut conjuncts: Vec<&Expr> = Vec::new();
    for conjunct in def.deps.iter().chain(&prompt).chain(&def.visible).flat_map(Expr::conjuncts) {
        if !conjuncts.contains(&conjunct) {
            conjuncts.push(conjunct);
        }
    }
    Expr::all(conjuncts.into_iter().cloned())
}

fn type_reason(ty: Type, wanted: &Value) -> Option<String> {
    let name = ty.name();
    let article = if ty == Type::Int { "an" } else { "a" };
    match (ty, wanted) {
        (Type::Bool, Value::Module) => Some("it is a bool: y or n, never m".into()),
        (Type::Bool | Type::Tristate, Value::Number(_) | Value::Str(_)) => {
            Some(format!("it is {article} {name}, so its value is y, m or n"))
        }
        (Type::String | Type::Int | Type::Hex, Value::Yes | Value::Module | Value::No) => {
            Some(format!("it is {article} {name}: it takes a value, not y, m or n"))
        }
        (Type::String, Value::Number(_)) => {
            Some("it is a string, so its value needs quotes".into())
        }
        (Type::Int | Type::Hex, Value::Str(_)) => {
            Some(format!("it is {article} {name}, so its value goes without quotes"))
        }
        (Type::Int, Value::Number(n)) if n.starts_with("0x") || n.starts_with("0X") => {
            Some("it is an int, so its value is decimal, not hex".into())
        }
        _ => None,
    }
}

impl KconfigTree {
    /// Why `mismatch` happened, as far as the Kconfig files tell, given the `final_config` it was
    /// found in: a clause such as "it depends on USB and SCSI, both off (USB_SUPPORT && USB &&
    /// SCSI)" or "it is not a symbol of this tree (did you mean EXT4_FS?)". `None` when they do
    /// not tell; [`Mismatch::with_reason`] then keeps the generic guess.
    pub fn explain(
        &self,
        mismatch: &Mismatch,
        final_config: &BTreeMap<String, Value>,
    ) -> Option<String> {
        let name = mismatch.wanted.symbol.strip_prefix("CONFIG_")?;
        let wanted = &mismatch.wanted.value;
        let cx = Eval { tree: self, config: final_config };
        let Some(symbol) = self.symbols.get(name) else {
            return Some(self.not_a_symbol(name));
        };
        if let Some(reason) = symbol.ty.and_then(|ty| type_reason(ty, wanted)) {
            return Some(reason);
        }
        let want = match wanted {
            Value::Yes => Some(Tri::Y),
            Value::Module => Some(Tri::M),
            Value::No => Some(Tri::N),
            Value::Number(_) | Value::Str(_) => None,
        };
        if let (Some(Tri::M), Some(modules)) = (want, &self.modules) {
            if cx.tri(modules) != Tri::Y {
                return Some(format!("modules are off ({modules} is n), so it can only be y or n"));
            }
        }
        let got = cx.tri(name);
        // a value (number, string) that did not stick was held down like a y that became n
        let held_down = want.is_none_or(|want| want > got);
        if held_down {
            self.why_not_higher(name, symbol, &cx, wanted, want)
        } else {
            self.why_not_lower(name, symbol, &cx, want.unwrap_or(Tri::N))
        }
    }

    fn why_not_higher(
        &self,
        name: &str,
        symbol: &Symbol,
        cx: &Eval,
        wanted: &Value,
        want: Option<Tri>,
    ) -> Option<String> {
        if let Some(deps) = dependencies(symbol) {
            let value = cx.eval(&deps, true);
            // kconfig lifts a bool under an m dependency to y; only a tristate stays at m
            let capped = value == Tri::M && symbol.ty == Some(Type::Tristate);
            if value == Tri::N || (capped && want == Some(Tri::Y)) {
                return Some(self.dependency_reason(&deps, cx, value));
            }
        }
        if let Some(reason) = self.prompt_reason(name, symbol, cx, true) {
            return Some(reason);
        }
        if want == Some(Tri::Y) {
            if let Some(reason) = self.choice_reason(name, symbol, cx, true) {
                return Some(reason);
            }
        }
        self.range_reason(symbol, cx, wanted).or_else(|| {
            // the last suspect: what was taken as met because it could not be evaluated
            let unknown = first_unknown(&dependencies(symbol)?)?.to_string();
            Some(format!(
                "its dependencies include {unknown}, a toolchain test kconfig ran and this check cannot repeat: it may have failed"
            ))
        })
    }

    fn why_not_lower(&self, name: &str, symbol: &Symbol, cx: &Eval, want: Tri) -> Option<String> {
        let selecters: Vec<(&str, Tri)> = self
            .selected_by
            .get(name)
            .into_iter()
            .flatten()
            .map(|select| {
                let cond = select.cond.as_ref().map_or(Tri::Y, |cond| cx.eval(cond, true));
                (select.by.as_str(), cx.tri(&select.by).min(cond))
            })
            .filter(|(_, value)| *value > want)
            .collect();
        if !selecters.is_empty() {
            let names: Vec<&str> = selecters.iter().map(|(name, _)| *name).collect();
            let values: Vec<Tri> = selecters.iter().map(|(_, value)| *value).collect();
            let how = match (values.len(), values.iter().all(|v| *v == values[0])) {
                (1, _) => format!(", which is {}", values[0].word()),
                (2, true) => format!(", both {}", values[0].word()),
                (_, true) => format!(", all {}", values[0].word()),
                (_, false) => String::new(),
            };
            return Some(format!("it is selected by {}{how}", list(&names)));
        }
        if let Some(reason) = self.prompt_reason(name, symbol, cx, false) {
            return Some(reason);
        }
        if want == Tri::N {
            return self.choice_reason(name, symbol, cx, false);
        }
        None
    }

    fn dependency_reason(&self, deps: &Expr, cx: &Eval, value: Tri) -> String {
        let culprits = cx.culprits(deps);
        // the expression only helps when it says more than the culprits: `A && B` with both off
        // does not
        let all_named = deps
            .conjuncts()
            .iter()
            .all(|conjunct| culprits.iter().any(|c| !c.high && c.leaf == *conjunct));
        let expr = if all_named { String::new() } else { format!(" ({})", shown(deps)) };
        let limit = if value == Tri::M { ", so it can be at most m" } else { "" };
        match cx.together(&culprits) {
            Some(together) => format!("it depends on {together}{expr}{limit}"),
            None if culprits.is_empty() => format!("its dependencies are off{expr}{limit}"),
            None => {
                let one_by_one = cx.one_by_one(&culprits);
                format!("its dependencies are not met: {one_by_one}{expr}{limit}")
            }
        }
    }

    /// A symbol without a prompt, or whose prompt is hidden, takes no value from a fragment: only
    /// its default and `select`s set it.
    fn prompt_reason(
        &self,
        name: &str,
        symbol: &Symbol,
        cx: &Eval,
        held_down: bool,
    ) -> Option<String> {
        let prompted: Vec<&Definition> =
            symbol.defs.iter().filter(|def| !def.prompts.is_empty()).collect();
        let hidden = if prompted.is_empty() {
            "it has no prompt".to_string()
        } else {
            let mut conditions = Vec::new();
            for def in prompted {
                conditions.push(prompt_condition(def)?);
            }
            let condition = Expr::any(conditions)?;
            if cx.eval(&condition, true) != Tri::N {
                return None;
            }
            let culprits = cx.culprits(&condition);
            match cx.together(&culprits) {
                Some(together) => format!("its prompt shows only with {together}"),
                None => format!("its prompt is hidden: {}", cx.one_by_one(&culprits)),
            }
        };
        // `select` sets only bools and tristates; anything else is its default's
        let how = match (held_down, symbol.ty) {
            (true, Some(Type::Bool | Type::Tristate) | None) => {
                format!("only a select or its default sets it ({})", self.selecters(name, cx))
            }
            _ => self.default_of(symbol, cx),
        };
        Some(format!("{hidden}, so a fragment cannot set it: {how}"))
    }

    fn selecters(&self, name: &str, cx: &Eval) -> String {
        let selects = self.selected_by.get(name).map_or(&[][..], Vec::as_slice);
        let mut names: Vec<&str> = Vec::new();
        for select in selects {
            if !names.contains(&select.by.as_str()) {
                names.push(&select.by);
            }
        }
        let which = match names.len() {
            0 => return "nothing selects it".into(),
            1 if cx.tri(names[0]) == Tri::N => "which is off",
            1 => "which does not select it here",
            2 if names.iter().all(|n| cx.tri(n) == Tri::N) => "neither of which is on",
            _ if names.iter().all(|n| cx.tri(n) == Tri::N) => "none of which is on",
            _ => "none of which selects it here",
        };
        format!("selected by {}, {which}", list(&names))
    }

    fn default_of(&self, symbol: &Symbol, cx: &Eval) -> String {
        let applies = |cond: &Option<Expr>| cond.as_ref().is_none_or(|c| cx.eval(c, true) > Tri::N);
        let first = symbol
            .defs
            .iter()
            .filter(|def| dependencies_of(def).is_none_or(|deps| cx.eval(&deps, true) > Tri::N))
            .flat_map(|def| &def.defaults)
            .find(|(_, cond)| applies(cond));
        match first {
            // `default NR_CPUS_DEFAULT` says little without NR_CPUS_DEFAULT's value
            Some((value @ Expr::Sym(name), _)) if self.symbols.contains_key(name) => {
                let now = cx.text(value).map_or(String::new(), |text| shown_text(&text));
                format!("its default is {name}, which is {now}")
            }
            Some((value, _)) => format!("its default is {value}"),
            None => "it has no default".into(),
        }
    }

    fn choice_reason(
        &self,
        name: &str,
        symbol: &Symbol,
        cx: &Eval,
        held_down: bool,
    ) -> Option<String> {
        let choice = &self.choices[symbol.defs.iter().find_map(|def| def.choice)?];
        let title = choice.prompt.as_ref().map(|p| format!(" \"{p}\"")).unwrap_or_default();
        if held_down {
            let on: Vec<&str> = choice
                .members
                .iter()
                .map(String::as_str)
                .filter(|m| *m != name && cx.tri(m) == Tri::Y)
                .collect();
            let instead = match on.is_empty() {
                true => "none of its options on".to_string(),
                false => format!("{} instead", list(&on)),
            };
            Some(format!(
                "it is one option of the choice{title}, which has only one on, and the final .config has {instead}"
            ))
        } else if choice.optional {
            None
        } else {
            Some(format!(
                "it is the option picked in the choice{title}, which always has one on: ask for the option wanted with =y instead"
            ))
        }
    }

    /// The first `range` whose condition holds, when the wanted number is outside it.
    fn range_reason(&self, symbol: &Symbol, cx: &Eval, wanted: &Value) -> Option<String> {
        let Value::Number(number) = wanted else { return None };
        let number = parse_number(number)?;
        let (low, high, _) = symbol
            .defs
            .iter()
            .flat_map(|def| &def.ranges)
            .find(|(_, _, cond)| cond.as_ref().is_none_or(|c| cx.eval(c, true) > Tri::N))?;
        let (low, high) = (cx.text(low)?, cx.text(high)?);
        let inside = parse_number(&low)? <= number && number <= parse_number(&high)?;
        (!inside).then(|| format!("it must be between {low} and {high}"))
    }

    /// "it is not a symbol of this tree", with the names closest to `name` when some are close.
    fn not_a_symbol(&self, name: &str) -> String {
        let similar = self.similar(name);
        if similar.is_empty() {
            return "it is not a symbol of this tree".into();
        }
        let mut shown = similar.join(", ");
        if let Some(last) = shown.rfind(", ") {
            shown.replace_range(last..last + 2, " or ");
        }
        format!("it is not a symbol of this tree (did you mean {shown}?)")
    }

    /// Up to three defined names at the smallest edit distance from `name`, ignoring case, if
    /// that distance is small for the name's length: a quarter of it, three at most.
    fn similar(&self, name: &str) -> Vec<&str> {
        // a short name is close to too many others to suggest any but its own other case
        let limit = (name.len() / 4).min(3);
        let mut found: Vec<(usize, &str)> = self
            .symbols
            .keys()
            .filter(|candidate| candidate.len().abs_diff(name.len()) <= limit)
            .map(|candidate| (edit_distance(name, candidate), candidate.as_str()))
            .filter(|(distance, _)| *distance <= limit)
            .collect();
        found.sort();
        let Some(&(best, _)) = found.first() else { return Vec::new() };
        found.into_iter().take_while(|(d, _)| *d == best).take(3).map(|(_, n)| n).collect()
    }
}

fn first_unknown(e: &Expr) -> Option<&Expr> {
    match e {
        Expr::Unknown(_) => Some(e),
        Expr::Sym(_) | Expr::Str(_) => None,
        Expr::Not(inner) => first_unknown(inner),
        Expr::And(a, b) | Expr::Or(a, b) | Expr::Cmp(_, a, b) => {
            first_unknown(a).or_else(|| first_unknown(b))
        }
    }
}

fn dependencies_of(def: &Definition) -> Option<Expr> {
    Expr::all(def.deps.iter().cloned())
}

/// Levenshtein distance over ASCII case-folded bytes.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(!ca.eq_ignore_ascii_case(cb));
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests;
