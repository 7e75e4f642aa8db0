//! Chat templates: Hugging Face ships them as Jinja source in `tokenizer_config.json`'s
//! `chat_template`; they are rendered here with `minijinja` (plus Python-style string
//! methods such as `.strip()`), with the variables transformers passes: `messages`,
//! `add_generation_prompt`, `bos_token`, `eos_token` and the `raise_exception` function.

use std::path::Path;
use wick::{Error, Result};

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    /// `"system"`, `"user"` or `"assistant"`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl Message {
    /// A message of `role` saying `content`.
    pub fn new(role: &str, content: &str) -> Self {
        Message { role: role.to_string(), content: content.to_string() }
    }
}

/// A chat template with the special tokens it refers to.
///
/// ```
/// use wick_models::chat::{ChatTemplate, Message};
/// let t = ChatTemplate::new(
///     "{% for m in messages %}<{{ m.role }}>{{ m.content | trim }}{{ eos_token }}{% endfor %}\
///      {% if add_generation_prompt %}<assistant>{% endif %}",
///     "<s>",
///     "</s>",
/// );
/// let text = t.render(&[Message::new("user", " hi ")], true)?;
/// assert_eq!(text, "<user>hi</s><assistant>");
/// # Ok::<(), wick::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTemplate {
    source: String,
    bos_token: String,
    eos_token: String,
}

/// A special token in tokenizer_config.json: a string or `{"content": "..."}`.
fn token_text(v: Option<&serde_json::Value>) -> String {
    match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Object(o)) => {
            o.get("content").and_then(|c| c.as_str()).unwrap_or_default().to_string()
        }
        _ => String::new(),
    }
}

impl ChatTemplate {
    /// A template from its Jinja source and special tokens.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Self {
        ChatTemplate { source: source.into(), bos_token: bos_token.into(), eos_token: eos_token.into() }
    }

    /// The template of a `tokenizer_config.json` (`None` when it has none). A list of named
    /// templates takes the one called `"default"`.
    pub fn from_tokenizer_config(path: &Path) -> Result<Option<Self>> {
        let json: serde_json::Value = crate::llm::read_json(path)?;
        let source = match json.get("chat_template") {
            None | Some(serde_json::Value::Null) => return Ok(None),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Array(list)) => list
                .iter()
                .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
                .and_then(|t| t.get("template")?.as_str())
                .ok_or_else(|| {
                    Error::format(
                        "chat template",
                        format!("{}: no template named \"default\"", path.display()),
                    )
                })?
                .to_string(),
            Some(_) => {
                return Err(Error::format(
                    "chat template",
                    format!("{}: chat_template is neither a string nor a list", path.display()),
                ))
            }
        };
        Ok(Some(ChatTemplate {
            source,
            bos_token: token_text(json.get("bos_token")),
            eos_token: token_text(json.get("eos_token")),
        }))
    }

    /// The template a GGUF file carries (`tokenizer.chat_template`, with the texts of
    /// `tokenizer.ggml.bos_token_id` / `eos_token_id`); `None` when it has none.
    pub fn from_gguf(file: &wick::gguf::GgufFile) -> Result<Option<Self>> {
        let c = file.content();
        if c.value("tokenizer.chat_template").is_none() {
            return Ok(None);
        }
        let source: &str = c.get("tokenizer.chat_template")?;
        let tokens: &[String] = c.get("tokenizer.ggml.tokens")?;
        let text = |key: &str| -> Result<String> {
            if c.value(key).is_none() {
                return Ok(String::new());
            }
            let id: u32 = c.get(key)?;
            tokens.get(id as usize).cloned().ok_or_else(|| {
                Error::format(
                    "gguf",
                    format!("metadata key {key:?} = {id} is not one of the {} tokens", tokens.len()),
                )
            })
        };
        Ok(Some(ChatTemplate::new(
            source,
            &text("tokenizer.ggml.bos_token_id")?,
            &text("tokenizer.ggml.eos_token_id")?,
        )))
    }

    /// The Jinja source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders `messages`, ending with the assistant's turn opener when
    /// `add_generation_prompt`.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let err = |e: minijinja::Error| {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            Error::invalid("chat template", msg)
        };
        let mut env = minijinja::Environment::new();
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.add_function("raise_exception", |msg: String| -> std::result::Result<String, minijinja::Error> {
            Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, msg))
        });
        env.add_template("chat", &self.source).map_err(err)?;
        let tmpl = env.get_template("chat").map_err(err)?;
        tmpl.render(minijinja::context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => &self.bos_token,
            eos_token => &self.eos_token,
        })
        .map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raise_exception_is_an_error_with_its_message() {
        let t = ChatTemplate::new(
            "{% if messages[0].role != 'user' %}{{ raise_exception('first must be user') }}{% endif %}ok",
            "",
            "",
        );
        assert_eq!(t.render(&[Message::new("user", "x")], false).unwrap(), "ok");
        let e = t.render(&[Message::new("system", "x")], false).unwrap_err().to_string();
        assert!(e.contains("first must be user"), "{e}");
    }

    #[test]
    fn python_string_methods_and_syntax_errors() {
        let t = ChatTemplate::new("{{ messages[0].content.strip().upper() }}", "", "");
        assert_eq!(t.render(&[Message::new("user", "  hi ")], false).unwrap(), "HI");
        assert!(ChatTemplate::new("{% for %}", "", "").render(&[], false).is_err());
    }
}
