//! Every expression parser must answer any input with a value or a ValidationException.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tributary_engine::expr::{Condition, ExprInput, ExprKind, KeyCondition, Names, Projection, Update, Values};
use tributary_engine::{AttributeValue, Item, Number};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut names = Names::new();
    names.insert("#a".into(), "a".into());
    names.insert("#b".into(), "b".into());
    let mut values = Values::new();
    values.insert(":s".into(), AttributeValue::S("x".into()));
    values.insert(":n".into(), AttributeValue::N(Number::parse("1").unwrap_or_else(|_| Number::zero())));
    values.insert(":l".into(), AttributeValue::L(vec![AttributeValue::Null]));
    let input = ExprInput::new(Some(&names), Some(&values));
    let mut item = Item::new();
    item.insert("a".into(), AttributeValue::L(vec![AttributeValue::S("y".into())]));
    if let Ok(c) = Condition::parse(text, ExprKind::Condition, &input) {
        let _ = c.eval(&item);
    }
    if let Ok(u) = Update::parse(text, &input) {
        let mut it = item.clone();
        let _ = u.apply(&mut it);
    }
    if let Ok(p) = Projection::parse(text, &input) {
        let _ = p.apply(&item);
    }
    let _ = KeyCondition::parse(text, &input, ("a", "S"), Some(("b", "N")));
});
