// Decides many IAM requests in one Node.js process with @cloud-copilot/iam-simulate (tests/support/iam_evaluator.py).
//
// stdin: {"identityPolicies": [{name, policy}], "permissionBoundaryPolicies": [{name, policy}] | null,
//         "requests": [{principal, action, resource: {resource, accountId}, contextVariables}]}
// stdout: {"results": [{"decision": "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied"} | {"error": {...}}]}
// A request the evaluator cannot decide exactly is an error, never a decision: its errors, a resource it reads
// as a pattern (resultType "wildcard"), and context keys it ignored because the action does not have them.
import { readFileSync } from 'node:fs'
import { runSimulation } from '@cloud-copilot/iam-simulate'

const input = JSON.parse(readFileSync(0, 'utf8'))

async function decide(request) {
  const simulation = {
    request,
    identityPolicies: input.identityPolicies,
    serviceControlPolicies: [],
    resourceControlPolicies: []
  }
  if (input.permissionBoundaryPolicies) {
    simulation.permissionBoundaryPolicies = input.permissionBoundaryPolicies
  }
  const result = await runSimulation(simulation, {})
  if (result.resultType === 'error') {
    return { error: result.errors }
  }
  if (result.resultType !== 'single') {
    return { error: { message: `the evaluator read the resource as a pattern (resultType ${result.resultType})` } }
  }
  const ignored = result.result.ignoredContextKeys ?? []
  if (ignored.length > 0) {
    return { error: { message: 'context keys the action does not have were ignored', ignoredContextKeys: ignored } }
  }
  return { decision: result.result.analysis.result }
}

const results = []
for (const request of input.requests) {
  try {
    results.push(await decide(request))
  } catch (error) {
    results.push({ error: { message: String(error?.stack ?? error) } })
  }
}
process.stdout.write(JSON.stringify({ results }))
