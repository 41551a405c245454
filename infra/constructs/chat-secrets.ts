// Secrets Manager secrets for the chat platforms' credentials; the operator fills them in after deploy.
import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { chatPlatform, type ChatPlatform } from '../chat-platforms.js';

export interface ChatSecretsProps {
  readonly platforms: readonly ChatPlatform[];
  readonly retainData: boolean;
}

/**
 * One secret per chosen platform, created with the expected JSON keys set to "" (plus a random
 * `_placeholder` value, as Secrets Manager insists on generating something). No credential ever
 * appears in the template: docs/deploy.md has the `put-secret-value` command that replaces the JSON.
 * Encrypted with the account's `aws/secretsmanager` key, not the data key: granting a secret's reader
 * a customer key goes through a kms:ViaService key-policy statement naming the reader (the ECS
 * execution role in the service stack), which would make the stateful stack depend on the service stack.
 */
export class ChatSecrets extends Construct {
  /** The chosen platforms' secrets, in the order chosen. */
  readonly secrets: readonly { readonly platform: ChatPlatform; readonly secret: secretsmanager.Secret }[];

  constructor(scope: Construct, id: string, props: ChatSecretsProps) {
    super(scope, id);
    this.secrets = props.platforms.map((platform) => {
      const { name, description, keys } = chatPlatform(platform).secret;
      return { platform, secret: this.secret(name, description, keys, props) };
    });
  }

  private secret(id: string, description: string, keys: readonly string[], props: ChatSecretsProps): secretsmanager.Secret {
    const secret = new secretsmanager.Secret(this, id, {
      description,
      generateSecretString: {
        secretStringTemplate: JSON.stringify(Object.fromEntries(keys.map((k) => [k, '']))),
        generateStringKey: '_placeholder',
        passwordLength: 16,
        excludePunctuation: true,
      },
      removalPolicy: props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: `${id} issues these tokens in its own developer portal; Secrets Manager has no rotation Lambda that can mint new ones, so the operator rotates them there and runs put-secret-value.`,
    });
    return secret;
  }
}
