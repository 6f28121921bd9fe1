#!/usr/bin/env bash
# Records the curl transcripts the verdict tables cite, made without the suite: `record.sh litellm URL` or
# `record.sh prism URL` against a server started as tests/integration/test_third_party.py starts it. Writes
# Markdown to stdout; each section is one behaviour, anchored by the name the verdict tables use.
set -uo pipefail
server=$1 url=$2
case $server in
  litellm) key=sk-litellm-master-key model=mock-model ;;
  prism) key=sk-prism-any-key model=m ;;
  *) echo "usage: record.sh litellm|prism URL" >&2; exit 2 ;;
esac
msg='"messages":[{"role":"user","content":"Say hello."}]'
show() {  # show ANCHOR TITLE BODY [AUTH]: one curl, its status line and the start of its answer
  local anchor=$1 title=$2 body=$3 auth=${4:-"Bearer $key"}
  printf '<a id="%s"></a>\n### %s\n\n```console\n' "$anchor" "$title"
  printf "\$ curl -sS -m 10 -i %s/v1/chat/completions -H 'Authorization: %s' -H 'Content-Type: application/json' -d '%s'\n" \
    "$url" "$auth" "$body"
  curl -sS -m 10 -i "$url/v1/chat/completions" -H "Authorization: $auth" -H 'Content-Type: application/json' \
    -d "$body" 2>&1 | tr -d '\r' | grep -iv '^\(date\|x-litellm-[a-z-]*\|x-frame-options\|content-security-policy\|x-content-type-options\|vary\|access-control-[a-z-]*\|keep-alive\|connection\):' \
    | cut_middle
  printf '\n```\n\n'
}
cut_middle() {  # at most 1,600 bytes: the first 600 and the last 1,000, so a stream's end stays visible
  local text
  text=$(cat)
  if [ "${#text}" -le 1600 ]; then printf '%s' "$text"; else printf '%s\n[... cut ...]\n%s' "${text:0:600}" "${text: -1000}"; fi
}
echo "# $server: transcripts"
echo
echo "Recorded with \`tests/integration/transcripts/record.sh $server URL\` on $(date -u +%Y-%m-%d); headers that"
echo "vary per request are left out, answers longer than 1,600 bytes keep their first 600 and last 1,000."
echo
if [ "$server" = litellm ]; then
  show ranges "A value out of range is accepted (temperature 2.01)" "{\"model\":\"$model\",$msg,\"temperature\":2.01}"
  show stop-five "Five stop sequences are accepted" "{\"model\":\"$model\",$msg,\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}"
  show malformed "A malformed tool and an unknown response_format type are accepted" \
    "{\"model\":\"$model\",$msg,\"tools\":[{\"type\":\"function\"}],\"response_format\":{\"type\":\"xml\"}}"
  show generated "A wrongly typed seed is accepted" "{\"model\":\"$model\",$msg,\"seed\":\"seven\"}"
  show openai-values "OpenAI-only values are accepted (stop as one string)" "{\"model\":\"$model\",$msg,\"stop\":\"END\"}"
  show captured "Values only the capture excludes are accepted (a tool message without tool_call_id)" \
    "{\"model\":\"$model\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_current_weather\",\"arguments\":\"{}\"}}]},{\"role\":\"tool\",\"content\":\"hi\"}]}"
  show functions-string "functions as a string is accepted (the docs page types it any[] | null)" \
    "{\"model\":\"$model\",$msg,\"functions\":\"x\"}"
  show limit "max_completion_tokens is ignored by the mock (20 completion tokens for a limit of 4)" \
    "{\"model\":\"$model\",$msg,\"max_completion_tokens\":4}"
  show limit-max-tokens "max_tokens is ignored too" "{\"model\":\"$model\",$msg,\"max_tokens\":4}"
  show logprobs "logprobs asked, none returned" "{\"model\":\"$model\",$msg,\"logprobs\":true,\"top_logprobs\":2}"
  show usage-chunk "The usage chunk repeats choice 0 instead of choices: []" \
    "{\"model\":\"$model\",$msg,\"stream\":true,\"stream_options\":{\"include_usage\":true}}"
  show no-tool-calls "A named tool_choice gets text, never a tool call (mock mode)" \
    "{\"model\":\"$model\",$msg,\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_local_time\",\"parameters\":{\"type\":\"object\",\"properties\":{}}}}],\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_local_time\"}}}"
  show server-error-n "n as a string answers 500" "{\"model\":\"$model\",$msg,\"n\":\"two\"}"
  show server-error-format "response_format as a string answers 500" \
    "{\"model\":\"$model\",$msg,\"response_format\":\"x\"}"
  show server-error-content "A user message whose content is a list of empty objects answers 500" \
    "{\"model\":\"$model\",\"messages\":[{\"role\":\"user\",\"content\":[{},{}]}]}"
  show wrong-key "A wrong key answers 400, not 401 (no database behind the proxy)" "{\"model\":\"$model\",$msg}" \
    "Bearer sk-not-the-key"
else
  show model-unknown "Any model is served" "{\"model\":\"no-such-model\",$msg}"
  show malformed-json "A body that is not JSON gets no answer (curl gives up after 10 s)" "{\"model\":"
  show response-fields "The mock's answer: created 0, object and finish_reason \"string\", usage null" \
    "{\"model\":\"$model\",$msg,\"max_completion_tokens\":3}"
  show not-honoured "n, tools, response_format and logprobs are not acted on" \
    "{\"model\":\"$model\",$msg,\"n\":2,\"logprobs\":true,\"top_logprobs\":2,\"response_format\":{\"type\":\"json_object\"}}"
  show no-stream "stream: true is answered with one JSON completion" "{\"model\":\"$model\",$msg,\"stream\":true}"
  show wrong-key "Any bearer token is accepted" "{\"model\":\"$model\",$msg}" "Bearer sk-not-the-key"
  show range "A value out of range is refused (422): Prism validates requests against openapi.yaml" \
    "{\"model\":\"$model\",$msg,\"temperature\":2.01}"
fi
