/**
 * Specifies the template language by SparkPost's own documentation: every REPL example of its
 * template language reference (template-language.apib: template, data, documented result) is a
 * row of the table below, rendered as a template preview renders it (the data is the
 * transmission-level substitution data). Then what the reference states without an example
 * (elseif/else, then, operators, Lua truth, scope precedence, reserved variables), and the
 * errors: syntax errors at compile time with part and line, render errors per recipient.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compilePart, type PartKind, renderPart, TemplateError } from '../../src/core/template/index.js';
import { luaNumber } from '../../src/core/template/render.js';

type Data = Record<string, unknown>;

interface Case {
  name: string;
  kind: PartKind;
  template: string;
  data: Data;
  result: string;
}

const preview = (template: string, kind: PartKind, data: Data) =>
  renderPart(template, kind, kind, { scopes: [data], dynamic: data });

const cart = {
  shopping_cart: [
    { name: 'Jacket', price: 39.99, a_nested_array: [{ key: 'v2' }, { key: 'v1' }] },
    { name: 'Gloves', price: 5.0 },
  ],
};

/** The reference's REPL examples, in its order, with its documented results. */
const DOCUMENTED: Case[] = [
  {
    name: 'whitespace inside the braces is ignored',
    kind: 'html',
    template: '{{ value }}\n{{value}}\n{{  value   }}',
    data: { value: 'Hello 👋' },
    result: 'Hello 👋\nHello 👋\nHello 👋',
  },
  {
    name: 'missing and null variables render empty',
    kind: 'html',
    template: '* {{name}}\n* {{age}}\n* {{job}}\n* {{location}}',
    data: { name: 'Jane', age: null, job: 'Software Engineer' },
    result: '* Jane\n* \n* Software Engineer\n* ',
  },
  {
    name: 'default values with or',
    kind: 'html',
    template: "Hello {{ name or 'Customer' }}",
    data: { name: null },
    result: 'Hello Customer',
  },
  {
    name: 'nested object paths: dots, quoted keys and variables as keys',
    kind: 'html',
    template: "Street: {{address.street}}\nCity: {{address['city']}}\nDynamic: {{address[part]}}",
    data: { address: { street: 'Howard Street', city: 'San Francisco' }, part: 'street' },
    result: 'Street: Howard Street\nCity: San Francisco\nDynamic: Howard Street',
  },
  {
    name: 'HTML escaping, and triple braces to insert as is',
    kind: 'html',
    template: 'Escaped: {{custom_html}}\nUnescaped: {{{custom_html}}}',
    data: { custom_html: '<b>Hello, World</b>' },
    result: 'Escaped: &lt;b&gt;Hello, World&lt;&#x2F;b&gt;\nUnescaped: <b>Hello, World</b>',
  },
  {
    name: 'a statement on its own line leaves no blank line',
    kind: 'text',
    template: 'Start of template\n{{ if state == "MD" }}\nMaryland\n{{ end }}\nEnd of template',
    data: { state: 'MD' },
    result: 'Start of template\nMaryland\nEnd of template',
  },
  {
    name: 'the length operator',
    kind: 'html',
    template: 'Number of states: {{#states}}',
    data: { states: ['MD', 'CA'] },
    result: 'Number of states: 2',
  },
  {
    name: 'each over strings with loop_var',
    kind: 'text',
    template: '{{ each children }}\nYou have a child named {{loop_var}}\n{{ end }}',
    data: { children: ['Rusty', 'Audrey'] },
    result: 'You have a child named Rusty\nYou have a child named Audrey\n',
  },
  {
    name: 'each over objects; numbers print as Lua prints them',
    kind: 'text',
    template:
      'Your shopping cart has items in it:\n{{each shopping_cart}}\nItem: {{loop_var.name}}, Price: {{loop_var.price}}\n{{end}}',
    data: cart,
    result: 'Your shopping cart has items in it:\nItem: Jacket, Price: 39.99\nItem: Gloves, Price: 5\n',
  },
  {
    name: 'nested loops with loop_vars',
    kind: 'text',
    template: [
      '---',
      '{{each shopping_cart}}',
      'Item: {{loop_vars.shopping_cart.name}}',
      'Price: {{loop_vars.shopping_cart.price}}',
      'This item has the following nested values:',
      '{{each loop_vars.shopping_cart.a_nested_array}}',
      '  Nested value: {{loop_vars.a_nested_array.key}}',
      '{{end}}',
      '---',
      '{{end}}',
      '',
    ].join('\n'),
    data: cart,
    result: [
      '---',
      'Item: Jacket',
      'Price: 39.99',
      'This item has the following nested values:',
      '  Nested value: v2',
      '  Nested value: v1',
      '---',
      'Item: Gloves',
      'Price: 5',
      'This item has the following nested values:',
      '---',
      '',
    ].join('\n'),
  },
  {
    name: 'personalized links: expressions in a URL are URL-encoded',
    kind: 'html',
    template:
      'Personalized link:\n<a href="https://company.com/dailydeals?user={{user}}&offercode={{offercode}}">Go!</a>',
    data: { user: 'john', offercode: 'Daily Deal!' },
    result:
      'Personalized link:\n<a href="https://company.com/dailydeals?user=john&offercode=Daily%20Deal%21">Go!</a>',
  },
  {
    name: 'triple braces turn URL encoding off',
    kind: 'html',
    template:
      '<a href="https://{{{link}}}">click me</a>\n<a href="http://www.company.com/{{{the_entire_suffix}}}">Go</a>',
    data: { link: 'www.company.com/groups', the_entire_suffix: 'groups/join?user=clark' },
    result:
      '<a href="https://www.company.com/groups">click me</a>\n<a href="http://www.company.com/groups/join?user=clark">Go</a>',
  },
  {
    name: 'the empty() macro',
    kind: 'html',
    template: [
      '{{ if not empty(shopping_cart) }}',
      '<table>',
      '  <tr>',
      '    <th>Name</th>',
      '    <th>Price</th>',
      '  </tr>',
      '{{ each shopping_cart }}',
      '  <tr>',
      '    <td>{{loop_var.name}}</td>',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the documented template prints a dollar sign
      '    <td>${{loop_var.price}}</td>',
      '  </tr>',
      '{{ end }}',
      '</table>',
      '{{ else }}',
      '<b>Buy something!</b>',
      '{{ end }}',
    ].join('\n'),
    data: cart,
    result: [
      '<table>',
      '  <tr>',
      '    <th>Name</th>',
      '    <th>Price</th>',
      '  </tr>',
      '  <tr>',
      '    <td>Jacket</td>',
      '    <td>$39.99</td>',
      '  </tr>',
      '  <tr>',
      '    <td>Gloves</td>',
      '    <td>$5</td>',
      '  </tr>',
      '</table>',
      '',
    ].join('\n'),
  },
  {
    name: 'a braces macro',
    kind: 'html',
    template: 'Here is a curly: {{ opening_double_curly() }}',
    data: {},
    result: 'Here is a curly: {{',
  },
  {
    name: 'dynamic content: expressions inside dynamic_html run, unescaped',
    kind: 'html',
    template:
      '<body>\n<p>Insert a chunk of html:</p>\n{{ render_dynamic_content(dynamic_html.my_html_chunk) }}\n</body>',
    data: {
      dynamic_html: {
        my_html_chunk: '<p><a href="http://www.example.com?q={{username}}">Click here</a></p>',
      },
      username: 'foo',
    },
    result:
      '<body>\n<p>Insert a chunk of html:</p>\n<p><a href="http://www.example.com?q=foo">Click here</a></p>\n</body>',
  },
  {
    name: 'dynamic content chosen in a loop',
    kind: 'html',
    template:
      "<h3>Today's special offers</h3>\n<ul>\n{{each offers}}\n    <li>{{render_dynamic_content(dynamic_html[loop_var])}}</li>\n{{end}}\n</ul>",
    data: {
      name: 'John',
      offers: ['offer1', 'offer3'],
      dynamic_html: {
        offer1: '<a href="http://t.com/offer/1?name={{name}}">Premium-brand wirecutters</a>',
        offer2: '<a href="http://t.com/offer/2?name={{name}}">Corks</a>',
        offer3: '<a href="http://t.com/offer/3?name={{name}}">Super-effective bug spray</a>',
      },
    },
    result:
      '<h3>Today\'s special offers</h3>\n<ul>\n    <li><a href="http://t.com/offer/1?name=John">Premium-brand wirecutters</a></li>\n    <li><a href="http://t.com/offer/3?name=John">Super-effective bug spray</a></li>\n</ul>',
  },
];

describe('the template language reference, example by example', () => {
  for (const c of DOCUMENTED)
    test(c.name, () => {
      assert.equal(preview(c.template, c.kind, c.data), c.result);
    });
});

describe('what the reference states without an example', () => {
  const signup =
    "{{if signed_up}}\nWelcome\n{{elseif rejected_sign_up}}\nWe won't bug you\n{{else}}\nPlease sign up\n{{end}}\n";
  const table: Array<[string, string, Data, string]> = [
    ['if: true', signup, { signed_up: true }, 'Welcome\n'],
    ['elseif', signup, { signed_up: false, rejected_sign_up: 1 }, "We won't bug you\n"],
    ['else', signup, {}, 'Please sign up\n'],
    ['then may end an if', '{{if signed_up then}}\nWelcome\n{{end}}\n', { signed_up: 'yes' }, 'Welcome\n'],
    ['not', "{{if not signed_up}}\nDon't forget to sign up!\n{{end}}\n", {}, "Don't forget to sign up!\n"],
    ['>', '{{if age > 30}}\nolder\n{{else}}\nyounger\n{{end}}\n', { age: 31 }, 'older\n'],
    [
      'and with a nested path',
      '{{if age > 30 and address.state == "MD"}}\nyes\n{{end}}\n',
      { age: 40, address: { state: 'MD' } },
      'yes\n',
    ],
    ['!= <= >= <', '{{x != 1}} {{x <= 2}} {{x >= 3}} {{x < 2}}', { x: 2 }, 'true true false false'],
    ['strings compare as strings', "{{ 'abc' < 'abd' }} {{ s == 'MD' }}", { s: 'MD' }, 'true true'],
    ['== never converts types', '{{ n == "5" }} {{ n == 5 }}', { n: 5 }, 'false true'],
    [
      'Lua truth: empty string and 0 are true',
      '{{if s}}s{{end}}{{if z}}z{{end}}{{if f}}f{{end}}',
      { s: '', z: 0, f: false },
      'sz',
    ],
    [
      'or keeps a false-y left side only when nil or false',
      "{{ z or 'd' }}|{{ f or 'd' }}",
      { z: 0, f: false },
      '0|d',
    ],
    ['and gives its operand', "{{ a and 'yes' }}", { a: true }, 'yes'],
    [
      'array indexes start at 1',
      '{{ children[1] }} and {{ children[2] }}{{ children[3] }}',
      { children: ['A', 'B'] },
      'A and B',
    ],
    ['indexing and dots together', '{{ shopping_cart[1].name }}', cart, 'Jacket'],
    [
      'loop_index counts from 1',
      '{{each l}}{{loop_index}}={{loop_var}} {{end}}',
      { l: ['a', 'b'] },
      '1=a 2=b ',
    ],
    [
      'each over nil or an empty array renders nothing',
      '[{{each a}}x{{end}}{{each b}}y{{end}}]',
      { b: [] },
      '[]',
    ],
    ['# of a string counts bytes', '{{#s}}', { s: 'é' }, '2'],
    [
      'booleans, objects and arrays',
      '{{t}} {{o}} {{a}}',
      { t: false, o: { k: 1 }, a: [1, 'x'] },
      'false {"k":1} [1,"x"]',
    ],
    [
      'closing and triple curly macros',
      '{{closing_double_curly()}}{{opening_triple_curly()}}{{closing_triple_curly()}}',
      {},
      '}}{{{}}}',
    ],
    ['a quoted }} inside a tag', "{{ x or '}}' }}", {}, '}}'],
    ['no prototype lookups', '[{{constructor}}][{{o.toString}}][{{__proto__}}]', { o: {} }, '[][][]'],
    [
      'a URL in text is a link too',
      'https://x.example/?q={{q}} and {{q}}',
      { q: 'a b' },
      'https://x.example/?q=a%20b and a b',
    ],
    [
      "a statement eats blanks up to its line break, not the next line's indent",
      '{{if 1}}  \n  x{{end}}',
      {},
      '  x',
    ],
  ];
  for (const [name, template, data, result] of table)
    test(name, () => {
      assert.equal(preview(template, 'text', data), result);
    });

  test('scope precedence: recipient substitution_data, recipient metadata, transmission data, transmission metadata', () => {
    // The reference's example: the email renders "Hello, New York!".
    const tx = { meta: { city: 'San Francisco' }, sub: { city: 'Seattle' } };
    const rcpt = { meta: { city: 'Baltimore' }, sub: { city: 'New York' } };
    const render = (scopes: Data[]) => renderPart('Hello, {{city}}!', 'html', 'html', { scopes });
    assert.equal(render([rcpt.sub, rcpt.meta, tx.sub, tx.meta]), 'Hello, New York!');
    assert.equal(render([{}, rcpt.meta, tx.sub, tx.meta]), 'Hello, Baltimore!');
    assert.equal(render([{ city: null }, {}, tx.sub, tx.meta]), 'Hello, Seattle!', 'null falls through');
    assert.equal(render([{}, {}, {}, tx.meta]), 'Hello, San Francisco!');
  });

  test('reserved variables come from the recipient and win over data', () => {
    const out = renderPart('{{address.name}} <{{email}}> {{email_id}} {{env_from}}', 'text', 'text', {
      scopes: [{ email: 'shadowed@x.example' }],
      reserved: {
        address: { email: 'ann@x.example', name: 'Ann' },
        email: 'ann@x.example',
        email_id: 'ann@x.example',
        env_from: 'bounce@y.example',
      },
    });
    assert.equal(out, 'Ann <ann@x.example> ann@x.example bounce@y.example');
  });

  test('dynamic content is read from transmission-level data only, and never escaped', () => {
    const template =
      '{{ render_dynamic_content(dynamic_html.c) }}|{{{ render_dynamic_content(dynamic_html.c) }}}';
    const recipientOnly = renderPart(template, 'html', 'html', {
      scopes: [{ dynamic_html: { c: '<i>{{n}}</i>' }, n: 1 }],
      dynamic: {},
    });
    assert.equal(recipientOnly, '|', 'a recipient cannot supply a template to run');
    const fromTransmission = renderPart(template, 'html', 'html', {
      scopes: [{ n: '<b>' }],
      dynamic: { dynamic_html: { c: '<i>{{n}}</i>' } },
    });
    assert.equal(
      fromTransmission,
      '<i>&lt;b&gt;</i>|<i>&lt;b&gt;</i>',
      'the chunk escapes its own variables',
    );
    const plain = renderPart('{{render_dynamic_content(dynamic_plain.t)}}', 'text', 'text', {
      scopes: [{ n: 'Bo' }],
      dynamic: { dynamic_plain: { t: 'Hi {{n}} https://x.example/?n={{n}}' } },
    });
    assert.equal(plain, 'Hi Bo https://x.example/?n=Bo');
  });

  test('amp-mustache templates in amp_html keep their own tags', () => {
    const amp = [
      '<amp-list src="https://ampbyexample.com/json/cart.json" layout="fixed-height" height="80">',
      '<template type="amp-mustache">',
      'Cart items for {{sparkpost_name}}:<br>',
      '{{#cart_items}}<span>{{name}}</span><span>{{price}}</span>{{/cart_items}}',
      '{{^cart_items}}None.{{/cart_items}}',
      '</template>',
      '</amp-list>{{name}}',
    ].join('\n');
    const out = renderPart(amp, 'amp_html', 'amp_html', { scopes: [{ sparkpost_name: 'Ann', name: 'Bo' }] });
    assert.equal(
      out,
      amp.replace('{{sparkpost_name}}', 'Ann').replace('</amp-list>{{name}}', '</amp-list>Bo'),
    );
  });

  test('numbers print as %.14g', () => {
    assert.deepEqual([5, 39.99, 0.1 + 0.2, 1e20, 123456789012345, -0.5, 1e-5, 100].map(luaNumber), [
      '5',
      '39.99',
      '0.3',
      '1e+20',
      '1.2345678901235e+14',
      '-0.5',
      '1e-05',
      '100',
    ]);
  });
});

describe('errors', () => {
  const compileError = (template: string, part = 'html') => {
    try {
      compilePart(template, 'html', part);
    } catch (error) {
      assert.ok(error instanceof TemplateError);
      return error;
    }
    assert.fail(`compiled: ${template}`);
  };

  test('a syntax error names the part and the line, in SparkPost words', () => {
    const error = compileError('line 1\nline 2\nline 3\n{{if age >}}\n{{end}}', 'text');
    assert.equal(error.phase, 'compiling');
    assert.equal(error.part, 'text');
    assert.equal(error.line, 4);
    assert.match(error.message, /^Error while compiling part text: line 4: syntax error/);
  });

  const bad: Array<[string, RegExp]> = [
    ['{{ 1 + 1 }}', /syntax error near '\+/],
    ['{{}}', /empty expression/],
    ['{{name', /syntax error near '\{\{name'/],
    ['{{if x}}never closed', /'end' expected/],
    ['{{end}}', /syntax error near 'end'/],
    ['{{else}}', /syntax error near 'else'/],
    ['{{each}}', /expression expected/],
    ['{{ while x }}', /syntax error near 'while'/],
    ['{{ end = 1 }}', /syntax error near '= 1/],
    ['{{ shout(x) }}', /unknown macro 'shout'/],
    ['{{ empty() }}', /empty\(\) takes 1 argument/],
    ['{{ render_dynamic_content(chunk) }}', /dynamic_html, dynamic_plain or dynamic_amp_html/],
    ['{{{ if x }}}', /syntax error near 'if'/],
    ["{{ 'unfinished }}", /unfinished string|syntax error/],
  ];
  for (const [template, message] of bad)
    test(`compile error: ${template}`, () => {
      assert.match(compileError(template).message, message);
    });

  test('render errors name the part and line of the failing tag', () => {
    const part = compilePart('ok\n{{if age > 30}}old{{end}}', 'html', 'html');
    assert.equal(part.render({ scopes: [{ age: 40 }] }), 'ok\nold');
    assert.throws(
      () => part.render({ scopes: [{}] }),
      (error: unknown) =>
        error instanceof TemplateError &&
        error.phase === 'rendering' &&
        error.line === 2 &&
        error.message === 'Error while rendering part html: line 2: attempt to compare nil with number',
    );
    assert.throws(() => renderPart('{{#n}}', 'text', 'text', { scopes: [{}] }), /length of a nil value/);
    assert.throws(
      () => renderPart('{{each s}}x{{end}}', 'text', 'text', { scopes: [{ s: 'str' }] }),
      /each expects an array/,
    );
    assert.throws(
      () =>
        renderPart('{{render_dynamic_content(dynamic_html.x)}}', 'html', 'html', {
          scopes: [],
          dynamic: { dynamic_html: { x: '{{if}}' } },
        }),
      /in dynamic content/,
    );
    assert.throws(
      () =>
        renderPart('{{render_dynamic_content(dynamic_html.x)}}', 'html', 'html', {
          scopes: [],
          dynamic: { dynamic_html: { x: '{{render_dynamic_content(dynamic_html.x)}}' } },
        }),
      /nested too deeply/,
    );
  });

  test('work is bounded: loops that print nothing over large data fail instead of running on', () => {
    const part = compilePart('{{each a}}{{each a}}{{each a}}{{end}}{{end}}{{end}}', 'text', 'text');
    const a = Array.from({ length: 300 }, () => 1);
    assert.throws(() => part.render({ scopes: [{ a }] }), /too many steps/);
  });

  test('output is bounded: a loop over large data fails instead of exhausting memory', () => {
    const part = compilePart('{{each a}}{{each a}}xxxxxxxxxx{{end}}{{end}}', 'text', 'text');
    const a = Array.from({ length: 200 }, () => 1);
    assert.throws(() => part.render({ scopes: [{ a }] }, 100_000), /exceeds 100000 characters/);
  });
});
