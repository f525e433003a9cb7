//! Form inputs shared by the Manage and System windows: matrix code selects, custom field
//! questions, and reading typed numbers.

use caretaker_storage::custom_fields::CustomField;
use caretaker_storage::reference_data::MatrixItem;
use maud::{Markup, html};

use crate::web::form::Fields;

/// How deep a matrix code sits (`01` is 0, `01-02` is 1).
pub fn code_depth(code: &str) -> usize {
    code.matches('-').count()
}

/// `<option>`s of matrix items, children indented under their parents (codes sort as a
/// depth-first walk of the tree), after an empty first choice labelled `empty` if given.
pub fn matrix_options(items: &[MatrixItem], chosen: &str, empty: Option<&str>) -> Markup {
    html! {
        @if let Some(empty) = empty { option value="" { (empty) } }
        @for item in items.iter().filter(|i| i.is_active || i.code == chosen) {
            option value=(item.code) selected[item.code == chosen.trim()] {
                ("\u{a0}\u{a0}".repeat(code_depth(&item.code))) (item.code) " " (item.name)
            }
        }
    }
}

/// The code and name of a matrix item (`01-01 North East`), or the code alone.
pub fn matrix_label(items: &[MatrixItem], code: &str) -> String {
    match items.iter().find(|i| i.code == code) {
        Some(item) => format!("{} {}", item.code, item.name),
        None => code.to_owned(),
    }
}

/// The form name of a custom field's answer.
fn answer_name(field: &CustomField) -> String {
    format!("cf:{}", field.name)
}

/// One input per custom field (in a fieldset), keeping what was typed. `scope` says which
/// codes a field applies to (the site's channel, the asset's matrix code).
pub fn custom_field_inputs(fields: &[CustomField], typed: &Fields, scope: &str) -> Markup {
    html! {
        @if fields.is_empty() {
            p.muted { "No custom fields are defined." }
        } @else {
            p.muted { "Answer only the questions of the chosen " (scope) " (a field applies to its matrix code and the codes under it)." }
            @for field in fields {
                @let name = answer_name(field);
                @let value = typed.get(&name);
                @let id = format!("cf-{}", field.name);
                label for=(id) {
                    (field.question) " "
                    small.muted {
                        "(" (field.name) ", " (scope) " " (field.matrix_code)
                        @if field.is_mandatory { ", required" }
                        @if let Some((parent, trigger)) = &field.parent { ", when " (parent) " is " (trigger) }
                        ")"
                    }
                }
                @match field.data_type.as_str() {
                    "Boolean" => {
                        select #(id) name=(name) {
                            option value="" { "(no answer)" }
                            option value="true" selected[value.eq_ignore_ascii_case("true")] { "Yes" }
                            option value="false" selected[value.eq_ignore_ascii_case("false")] { "No" }
                        }
                    }
                    "List" => {
                        select #(id) name=(name) {
                            option value="" { "(no answer)" }
                            @for answer in &field.answers {
                                option value=(answer) selected[value.eq_ignore_ascii_case(answer)] { (answer) }
                            }
                        }
                    }
                    "Date" => { input #(id) type="date" name=(name) value=(value); }
                    "Number" => { input #(id) name=(name) value=(value) inputmode="decimal"; }
                    _ => { input #(id) name=(name) value=(value) maxlength="4000"; }
                }
            }
        }
    }
}

/// The custom field answers a form carries (`cf:<name>` fields that are not empty).
pub fn answers(fields: &Fields) -> Vec<(String, String)> {
    fields
        .0
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("cf:")?.to_owned(), v.trim().to_owned())))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

/// The text of a field, `None` when empty.
pub fn text(fields: &Fields, name: &str) -> Option<String> {
    Some(fields.get(name).trim().to_owned()).filter(|v| !v.is_empty())
}

/// A typed decimal number; text that is not one becomes NaN, which the use case's range
/// rules refuse (so the form reports it with every other rule, under the use case's key).
pub fn decimal(fields: &Fields, name: &str) -> Option<f64> {
    text(fields, name).map(|v| v.parse::<f64>().unwrap_or(f64::NAN))
}

/// A typed whole number; text that is not one becomes `invalid`, a value the use case's
/// rules refuse.
pub fn whole(fields: &Fields, name: &str, invalid: i64) -> Option<i64> {
    text(fields, name).map(|v| v.parse::<i64>().unwrap_or(invalid))
}
