/**
 * Checks a document against the IAM JSON policy grammar
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html) as far as
 * the parts we emit go: Version, Statement, Sid, Effect, Principal, Action, Resource, Condition.
 * Returns the problems, one line each; an empty list means the document is well formed.
 */
export function checkIamPolicyGrammar(document: unknown): string[] {
  const problems: string[] = [];
  if (!isObject(document)) return ['the policy is not a JSON object'];
  for (const key of Object.keys(document)) {
    if (!['Version', 'Id', 'Statement'].includes(key))
      problems.push(`unknown top-level key "${key}"`);
  }
  if (document.Version !== '2012-10-17') problems.push('Version must be "2012-10-17"');
  const statements = Array.isArray(document.Statement) ? document.Statement : [document.Statement];
  if (document.Statement === undefined || statements.length === 0)
    problems.push('Statement is missing or empty');
  const sids = new Set<string>();
  statements.forEach((statement: unknown, index: number) => {
    const at = `Statement[${index}]`;
    if (!isObject(statement)) {
      problems.push(`${at} is not an object`);
      return;
    }
    for (const key of Object.keys(statement)) {
      if (!STATEMENT_KEYS.includes(key)) problems.push(`${at}: unknown key "${key}"`);
    }
    if (statement.Sid !== undefined) {
      if (typeof statement.Sid !== 'string' || !/^[A-Za-z0-9]+$/.test(statement.Sid)) {
        problems.push(`${at}.Sid must be alphanumeric`);
      } else if (sids.has(statement.Sid)) {
        problems.push(`${at}.Sid "${statement.Sid}" is not unique`);
      } else sids.add(statement.Sid);
    }
    if (statement.Effect !== 'Allow' && statement.Effect !== 'Deny')
      problems.push(`${at}.Effect must be Allow or Deny`);
    const actionKeys = ['Action', 'NotAction'].filter((k) => k in statement);
    if (actionKeys.length !== 1) problems.push(`${at} needs exactly one of Action, NotAction`);
    for (const key of actionKeys) {
      for (const action of stringList(statement[key], `${at}.${key}`, problems)) {
        if (action !== '*' && !/^[a-z0-9-]+:[A-Za-z0-9*?]+$/.test(action)) {
          problems.push(`${at}.${key}: "${action}" is not service:Action`);
        }
      }
    }
    const isTrust = 'Principal' in statement || 'NotPrincipal' in statement;
    const resourceKeys = ['Resource', 'NotResource'].filter((k) => k in statement);
    if (!isTrust && resourceKeys.length !== 1)
      problems.push(`${at} needs exactly one of Resource, NotResource`);
    if (isTrust && resourceKeys.length > 0)
      problems.push(`${at}: a trust policy statement takes no Resource`);
    for (const key of resourceKeys) {
      for (const resource of stringList(statement[key], `${at}.${key}`, problems)) {
        if (
          resource !== '*' &&
          !/^arn:[a-z-]+:[a-z0-9-]+:[a-z0-9-]*:(\d{12})?:.+$/.test(resource)
        ) {
          problems.push(`${at}.${key}: "${resource}" is not an ARN or *`);
        }
      }
    }
    if ('Principal' in statement) {
      const principal = statement.Principal;
      if (principal !== '*' && !isObject(principal))
        problems.push(`${at}.Principal must be * or an object`);
      if (isObject(principal)) {
        for (const [kind, value] of Object.entries(principal)) {
          if (!['AWS', 'Federated', 'Service', 'CanonicalUser'].includes(kind)) {
            problems.push(`${at}.Principal: unknown principal type "${kind}"`);
          }
          stringList(value, `${at}.Principal.${kind}`, problems);
        }
      }
    }
    if ('Condition' in statement) {
      if (!isObject(statement.Condition)) problems.push(`${at}.Condition must be an object`);
      else {
        for (const [operator, block] of Object.entries(statement.Condition)) {
          if (!/^(ForAllValues:|ForAnyValue:)?[A-Za-z]+$/.test(operator)) {
            problems.push(`${at}.Condition: "${operator}" is not a condition operator`);
          }
          if (!isObject(block)) problems.push(`${at}.Condition.${operator} must be an object`);
          else
            for (const [key, value] of Object.entries(block))
              stringList(value, `${at}.Condition.${operator}.${key}`, problems);
        }
      }
    }
  });
  return problems;
}

const STATEMENT_KEYS = [
  'Sid',
  'Effect',
  'Principal',
  'NotPrincipal',
  'Action',
  'NotAction',
  'Resource',
  'NotResource',
  'Condition',
];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringList(value: unknown, at: string, problems: string[]): string[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) problems.push(`${at} is empty`);
  const strings: string[] = [];
  for (const item of list) {
    if (typeof item !== 'string' || item === '')
      problems.push(`${at} must be a string or a list of strings`);
    else strings.push(item);
  }
  return strings;
}
