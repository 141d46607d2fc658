//! `/images/generations` translation: golden fixtures (request → Bedrock body, Bedrock answer →
//! OpenAI response or error) under `tests/fixtures/images/<case>/`, plus the rules that answer 400.

mod common;
use common::{assert_json_eq, case_dirs, invalid_param, read};

use serde_json::{json, Map, Value};
use shale_translate::error::TranslateError;
use shale_translate::images::{
    bedrock_to_image_response, image_request_to_bedrock, ImageFamily, ImagesRequest, ResponseFormat,
};

fn request(v: Value) -> ImagesRequest {
    serde_json::from_value(v).expect("request parses")
}

fn plan(v: Value, family: ImageFamily) -> Result<Value, TranslateError> {
    image_request_to_bedrock(request(v), family, &Map::new()).map(|i| i.body)
}

#[test]
fn golden_fixtures() {
    let cases = case_dirs("images");
    assert!(
        cases.len() >= 10,
        "expected the image fixtures, found {}",
        cases.len()
    );
    for dir in cases {
        let case = dir.file_name().unwrap().to_string_lossy().into_owned();
        let meta = read(&dir, "case.json");
        let family = ImageFamily::from_model_id(meta["bedrock_model"].as_str().unwrap())
            .expect("known family");
        let defaults = meta
            .get("defaults")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let created = meta["created"].as_u64().unwrap();

        let inv = image_request_to_bedrock(request(read(&dir, "request.json")), family, &defaults)
            .unwrap_or_else(|e| panic!("{case}: request failed: {e:?}"));
        assert_json_eq(
            &case,
            "bedrock request",
            &inv.body,
            &read(&dir, "bedrock_request.json"),
        );

        let body = serde_json::to_vec(&read(&dir, "bedrock_response.json")).unwrap();
        let result = bedrock_to_image_response(family, &body, created, inv.response_format);
        if dir.join("error.json").exists() {
            let want = read(&dir, "error.json");
            let err = result.expect_err(&case);
            assert_eq!(
                u64::from(err.to_openai().status),
                want["status"].as_u64().unwrap(),
                "{case}"
            );
            let got = err.to_openai().to_value();
            assert_eq!(got["error"]["code"], want["code"], "{case}: {got}");
            assert_eq!(got["error"]["param"], want["param"], "{case}: {got}");
        } else {
            let resp = result.unwrap_or_else(|e| panic!("{case}: response failed: {e:?}"));
            let wire: Value = serde_json::from_slice(&serde_json::to_vec(&resp).unwrap()).unwrap();
            assert_json_eq(&case, "response", &wire, &read(&dir, "response.json"));
        }
    }
}

#[test]
fn quality_maps_to_titan_values() {
    for (quality, want) in [
        ("hd", Some("premium")),
        ("high", Some("premium")),
        ("premium", Some("premium")),
        ("standard", Some("standard")),
        ("medium", Some("standard")),
        ("low", Some("standard")),
        ("auto", None),
    ] {
        let body = plan(
            json!({"prompt": "p", "quality": quality}),
            ImageFamily::NovaCanvas,
        )
        .unwrap();
        assert_eq!(
            body["imageGenerationConfig"]
                .get("quality")
                .and_then(Value::as_str),
            want,
            "{quality}"
        );
    }
    let err = plan(
        json!({"prompt": "p", "quality": "ultra"}),
        ImageFamily::TitanV1,
    )
    .unwrap_err();
    assert_eq!(invalid_param(&err), Some("quality"));
}

#[test]
fn url_response_format_returns_a_data_url_and_others_are_400() {
    let inv = image_request_to_bedrock(
        request(json!({"prompt": "p", "response_format": "url"})),
        ImageFamily::TitanV2,
        &Map::new(),
    )
    .unwrap();
    assert_eq!(inv.response_format, ResponseFormat::Url);
    let err = plan(
        json!({"prompt": "p", "response_format": "png"}),
        ImageFamily::TitanV2,
    )
    .unwrap_err();
    assert_eq!(invalid_param(&err), Some("response_format"));
}

#[test]
fn stability_models_generate_one_image_per_request() {
    for family in [ImageFamily::StabilitySd3, ImageFamily::Sdxl] {
        let err = plan(json!({"prompt": "p", "n": 2}), family).unwrap_err();
        assert_eq!(invalid_param(&err), Some("n"), "{family:?}");
        assert!(plan(json!({"prompt": "p", "n": 1}), family).is_ok());
    }
}

#[test]
fn empty_prompt_is_a_400_for_text_to_image() {
    for family in [
        ImageFamily::TitanV2,
        ImageFamily::StabilitySd3,
        ImageFamily::Sdxl,
    ] {
        let err = plan(json!({"prompt": ""}), family).unwrap_err();
        assert_eq!(invalid_param(&err), Some("prompt"), "{family:?}");
    }
}

#[test]
fn background_removal_needs_no_prompt_and_no_generation_config() {
    let body = plan(
        json!({"taskType": "BACKGROUND_REMOVAL", "backgroundRemovalParams": {"image": "iVBORw0KGgo="}}),
        ImageFamily::NovaCanvas,
    )
    .unwrap();
    assert_eq!(
        body,
        json!({"taskType": "BACKGROUND_REMOVAL", "backgroundRemovalParams": {"image": "iVBORw0KGgo="}})
    );
}

#[test]
fn bad_size_names_size() {
    let err = plan(
        json!({"prompt": "p", "size": "big"}),
        ImageFamily::NovaCanvas,
    )
    .unwrap_err();
    assert_eq!(invalid_param(&err), Some("size"));
}

#[test]
fn png_only_models_reject_other_output_formats() {
    let err = plan(
        json!({"prompt": "p", "output_format": "jpeg"}),
        ImageFamily::NovaCanvas,
    )
    .unwrap_err();
    assert_eq!(invalid_param(&err), Some("output_format"));
    let body = plan(
        json!({"prompt": "p", "output_format": "png"}),
        ImageFamily::NovaCanvas,
    )
    .unwrap();
    assert!(body["imageGenerationConfig"].get("output_format").is_none());
}

#[test]
fn negative_prompt_spellings_map_per_family() {
    let titan = plan(
        json!({"prompt": "p", "negative_prompt": "n"}),
        ImageFamily::TitanV2,
    )
    .unwrap();
    assert_eq!(titan["textToImageParams"]["negativeText"], "n");
    let sd3 = plan(
        json!({"prompt": "p", "negativeText": "n"}),
        ImageFamily::StabilitySd3,
    )
    .unwrap();
    assert_eq!(sd3["negative_prompt"], "n");
    assert!(sd3.get("negativeText").is_none());
}

#[test]
fn malformed_answers_are_upstream_errors() {
    let cases = [
        (ImageFamily::NovaCanvas, &br#"{"images":[]}"#[..]),
        (
            ImageFamily::NovaCanvas,
            br#"{"images":[],"error":"internal failure"}"#,
        ),
        (ImageFamily::StabilitySd3, b"{}"),
        (ImageFamily::Sdxl, br#"{"result":"error","artifacts":[]}"#),
        (
            ImageFamily::Sdxl,
            br#"{"result":"success","artifacts":[{"finishReason":"ERROR"}]}"#,
        ),
        (ImageFamily::TitanV1, b"<html>"),
    ];
    for (family, body) in cases {
        let err = bedrock_to_image_response(family, body, 0, ResponseFormat::B64Json).unwrap_err();
        assert!(
            matches!(err, TranslateError::InvalidUpstream(_)),
            "{family:?} {}: {err:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn style_goes_to_nova_unless_it_is_a_dalle_style() {
    let body = plan(
        json!({"prompt": "p", "style": "PHOTOREALISM"}),
        ImageFamily::NovaCanvas,
    )
    .unwrap();
    assert_eq!(body["textToImageParams"]["style"], "PHOTOREALISM");
    for dalle in ["vivid", "natural"] {
        let body = plan(
            json!({"prompt": "p", "style": dalle}),
            ImageFamily::NovaCanvas,
        )
        .unwrap();
        assert!(body["textToImageParams"].get("style").is_none(), "{dalle}");
    }
}
