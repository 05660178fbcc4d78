//! The templates of `drydock new` (`cli/templates/`) and how they are filled in.
//!
//! A template is text with `{{NAME}}` placeholders, replaced by values, and sections: a line
//! `{{#FLAG}}` and a line `{{/FLAG}}` around lines kept only when the flag is set.

use std::collections::BTreeMap;

/// A file of the crate `drydock new` writes: where it goes, and its template.
pub(crate) struct Template {
    /// Its path in the crate.
    pub(crate) path: &'static str,
    /// Its text.
    pub(crate) text: &'static str,
}

/// Templates from `cli/templates/`: `templates![PATH => FILE, ...]`, the file at PATH in the crate
/// from FILE there.
macro_rules! templates {
    ($($path:literal => $file:literal),* $(,)?) => {
        &[$(Template {
            path: $path,
            text: include_str!(concat!("../../templates/", $file)),
        }),*]
    };
}

/// Every file of a driver crate, in the order they are written and listed.
pub(crate) const CRATE: &[Template] = templates![
    "Cargo.toml" => "Cargo.toml",
    "build.rs" => "build.rs",
    "src/{{lib}}.rs" => "driver.rs",
    "tests/sim.rs" => "tests/sim.rs",
    "tests/model/mod.rs" => "tests/model/mod.rs",
    "process/Cargo.toml" => "process/Cargo.toml",
    "process/main.rs" => "process/main.rs",
];

/// What fills the templates in: the placeholders' values and the sections' flags.
#[derive(Debug, Default)]
pub(crate) struct Values {
    values: BTreeMap<&'static str, String>,
    flags: BTreeMap<&'static str, bool>,
}

impl Values {
    /// Sets placeholder `name` to `value`.
    pub(crate) fn set(&mut self, name: &'static str, value: impl Into<String>) -> &mut Self {
        self.values.insert(name, value.into());
        self
    }

    /// Sets section flag `name`.
    pub(crate) fn flag(&mut self, name: &'static str, on: bool) -> &mut Self {
        self.flags.insert(name, on);
        self
    }

    /// `text` with its sections kept or dropped and its placeholders replaced; `more` answers the
    /// placeholders these values do not have (`None`: not one it knows).
    ///
    /// # Panics
    ///
    /// Panics on a section or placeholder no one knows, or an unclosed section: the templates are
    /// part of the program, so that is a bug in it.
    pub(crate) fn render(&self, text: &str, more: impl Fn(&str) -> Option<String>) -> String {
        let mut kept = String::new();
        // The sections open around the current line: whether each keeps its lines.
        let mut open: Vec<(&str, bool)> = Vec::new();
        for line in text.split_inclusive('\n') {
            let marker = line
                .trim()
                .strip_prefix("{{")
                .and_then(|l| l.strip_suffix("}}"));
            match marker.map(|m| m.split_at(1)) {
                Some(("#", name)) => open.push((name, self.flags[name])),
                Some(("/", name)) => {
                    let (opened, _) = open.pop().expect("a section closed but not opened");
                    assert_eq!(opened, name, "section {opened} closed as {name}");
                }
                _ if open.iter().all(|(_, on)| *on) => kept.push_str(line),
                _ => {}
            }
        }
        assert!(open.is_empty(), "unclosed sections {open:?}");
        let mut out = String::new();
        let mut rest = kept.as_str();
        while let Some(start) = rest.find("{{") {
            let end = start + rest[start..].find("}}").expect("an unclosed placeholder");
            let name = &rest[start + 2..end];
            let value = self
                .values
                .get(name)
                .cloned()
                .or_else(|| more(name))
                .unwrap_or_else(|| panic!("no value for the placeholder {{{{{name}}}}}"));
            out.push_str(&rest[..start]);
            out.push_str(&value);
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Values {
        let mut values = Values::default();
        values
            .set("name", "edu")
            .flag("yes", true)
            .flag("no", false);
        values
    }

    #[test]
    fn placeholders_take_their_values_and_sections_their_flags() {
        let text = "a {{name}} b\n{{#yes}}\nkept {{name}}\n  {{#no}}\ndropped\n{{/no}}\n{{/yes}}\n\
                    {{#no}}\ngone\n{{/no}}\nend {{at:x}}\n";
        let out = values().render(text, |name| name.strip_prefix("at:").map(str::to_uppercase));
        assert_eq!(out, "a edu b\nkept edu\nend X\n");
    }

    #[test]
    #[should_panic(expected = "no value for the placeholder {{other}}")]
    fn an_unknown_placeholder_is_a_bug() {
        values().render("{{other}}", |_| None);
    }

    #[test]
    #[should_panic(expected = "unclosed sections")]
    fn an_unclosed_section_is_a_bug() {
        values().render("{{#yes}}\nx\n", |_| None);
    }

    #[test]
    fn every_template_renders_with_what_drydock_new_sets() {
        // What `new` sets, whatever the values: a template naming anything else panics here.
        let mut values = super::super::tests::values();
        for template in CRATE {
            for (in_workspace, class_match) in [(true, false), (false, true)] {
                values
                    .flag("in_workspace", in_workspace)
                    .flag("out_of_tree", !in_workspace)
                    .flag("class_match", class_match);
                let out = values.render(template.text, |name| {
                    name.strip_prefix("at:")
                        .map(|path| format!("path = \"/d/{path}\""))
                });
                assert!(!out.contains("{{"), "{}: {out}", template.path);
            }
        }
    }
}
