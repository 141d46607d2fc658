//! Image generation models (Titan image generator, Nova Canvas, Stability SD3/Ultra/Core and
//! legacy SDXL): validation and a tiny valid PNG per requested image.

use crate::error::BedrockException;
use crate::model::Family;
use crate::text;
use crate::validate::required_key;
use serde_json::{json, Value};

/// A valid 1×1 PNG, base64.
pub const TINY_PNG_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

fn v(msg: impl Into<String>) -> BedrockException {
    BedrockException::validation(msg)
}

/// Answers an image-generation body.
pub fn respond(family: Family, body: &Value) -> Result<Value, BedrockException> {
    match family {
        Family::TitanImage => titan(body),
        Family::StabilitySdxl => {
            let prompts = body
                .get("text_prompts")
                .and_then(Value::as_array)
                .ok_or_else(|| required_key("text_prompts"))?;
            if prompts.is_empty() {
                return Err(v("Malformed input request: #/text_prompts: expected minItems: 1, please reformat your input and try again."));
            }
            let seed = body.get("seed").and_then(Value::as_u64).unwrap_or(0);
            Ok(
                json!({"result":"success","artifacts":[{"seed":seed,"base64":TINY_PNG_B64,"finishReason":"SUCCESS"}]}),
            )
        }
        _ => {
            let prompt = body
                .get("prompt")
                .and_then(Value::as_str)
                .ok_or_else(|| required_key("prompt"))?;
            if prompt.trim().is_empty() {
                return Err(v("Malformed input request: #/prompt: expected minLength: 1, please reformat your input and try again."));
            }
            let seed = body
                .get("seed")
                .and_then(Value::as_u64)
                .unwrap_or(text::stable_hash(prompt.as_bytes()) % 4_294_967_295);
            Ok(json!({"seeds":[seed],"finish_reasons":[null],"images":[TINY_PNG_B64]}))
        }
    }
}

fn titan(body: &Value) -> Result<Value, BedrockException> {
    const TASKS: &[&str] = &[
        "TEXT_IMAGE",
        "INPAINTING",
        "OUTPAINTING",
        "IMAGE_VARIATION",
        "COLOR_GUIDED_GENERATION",
        "BACKGROUND_REMOVAL",
        "VIRTUAL_TRY_ON",
    ];
    let task = body
        .get("taskType")
        .and_then(Value::as_str)
        .ok_or_else(|| required_key("taskType"))?;
    if !TASKS.contains(&task) {
        return Err(v(format!("Malformed input request: #/taskType: {task} is not a valid enum value, please reformat your input and try again.")));
    }
    if task == "TEXT_IMAGE" {
        let text = body
            .pointer("/textToImageParams/text")
            .and_then(Value::as_str)
            .ok_or_else(|| required_key("textToImageParams"))?;
        if text.is_empty() || text.chars().count() > 1024 {
            return Err(v("Malformed input request: #/textToImageParams/text: expected length between 1 and 1024, please reformat your input and try again."));
        }
    }
    let config = body.get("imageGenerationConfig");
    let n = config
        .and_then(|c| c.get("numberOfImages"))
        .and_then(Value::as_u64)
        .unwrap_or(1);
    if !(1..=5).contains(&n) {
        return Err(v(format!("Malformed input request: #/imageGenerationConfig/numberOfImages: {n} is not in 1..5, please reformat your input and try again.")));
    }
    if let Some(q) = config
        .and_then(|c| c.get("quality"))
        .and_then(Value::as_str)
    {
        if q != "standard" && q != "premium" {
            return Err(v(format!("Malformed input request: #/imageGenerationConfig/quality: {q} is not a valid enum value, please reformat your input and try again.")));
        }
    }
    Ok(json!({"images": vec![TINY_PNG_B64; n as usize], "error": null}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nova_canvas_returns_n_images() {
        let out = respond(Family::TitanImage, &json!({"taskType":"TEXT_IMAGE","textToImageParams":{"text":"a cat"},
            "imageGenerationConfig":{"numberOfImages":2,"quality":"premium","width":512,"height":512}})).unwrap();
        assert_eq!(out["images"].as_array().unwrap().len(), 2);
        assert!(respond(Family::TitanImage, &json!({"taskType":"TEXT_IMAGE"})).is_err());
        assert!(respond(Family::TitanImage, &json!({"taskType":"DRAW"})).is_err());
    }

    #[test]
    fn stability_formats() {
        let out = respond(Family::Stability, &json!({"prompt":"a dog","seed":7})).unwrap();
        assert_eq!(
            out,
            json!({"seeds":[7],"finish_reasons":[null],"images":[TINY_PNG_B64]})
        );
        let out = respond(
            Family::StabilitySdxl,
            &json!({"text_prompts":[{"text":"x"}]}),
        )
        .unwrap();
        assert_eq!(out["artifacts"][0]["finishReason"], "SUCCESS");
    }
}
